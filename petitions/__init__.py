"""Video petitions (接诉即办): a citizen's grievance filed by recorded clip, photo or text, answered within 1, 3 or
5 working days, with reminders, escalation (催办) and the supervisor's traffic-light board."""
