"""Alembic scripts for the records database; run them through docket.migrate, not by importing this package."""
