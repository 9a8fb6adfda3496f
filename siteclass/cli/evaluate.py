"""CLI commands of the evaluate stage (thin: flags → stage function)."""

from __future__ import annotations

from siteclass.cli.app import app  # noqa: F401
