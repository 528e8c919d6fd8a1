"""Durable media: the object-store adapters now; recorder, segments and manifests later (issue 6)."""
