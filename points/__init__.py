"""The points exchange (多多评): earning rules (pure), the double-entry ledger, the catalogue and redemptions.

Uses docket/ only (facts, persons, the audit log), never hearing/; see docs/points.md.
"""
