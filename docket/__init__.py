"""The court's register shared by all: rooms, issued join tokens and their revocation, the SQL adapter."""
