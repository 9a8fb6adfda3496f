"""Errors a user can act on. The CLI prints them without a traceback and exits with code 2."""

from __future__ import annotations


class SiteclassError(Exception):
    """Base class of every error siteclass raises on purpose."""

    exit_code = 1


class InputError(SiteclassError, ValueError):
    """Bad input from the user: a missing file or column, an invalid value. The message names it."""

    exit_code = 2


class ModelError(SiteclassError):
    """A model folder that cannot be loaded, or a model used before it is fitted."""

    exit_code = 2
