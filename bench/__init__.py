"""Benchmarks against named anchors measured in the same run: ``python -m bench NAME`` (``all`` runs each)."""
