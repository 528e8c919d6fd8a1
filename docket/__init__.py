"""The court's register shared by all, and its SQL adapter.

records.py / sql.py: rooms, issued join tokens and their revocation. court.py / court_sql.py: stations, persons,
cases and parties, hearings and panels, participants. audit.py: the hash-chained audit log. migrate.py and
migrations/: the schema. Nothing here knows court rules; hearing/ brings them.
"""
