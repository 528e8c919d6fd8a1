"""Court rules for live hearings: kinds, roles and permission policy, procedure, lobby, rooms."""
