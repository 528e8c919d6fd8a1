"""Composition root: settings, the FastAPI app factory and the `hearing` CLI. Nothing imports app/."""
