"""The character encoding of a text table (CSV/TSV): UTF-8 when its bytes are UTF-8, else detected, else refused.

A CSV exported from Excel or an old CRM is often Windows-1252 or Latin-1; read as UTF-8 its accented letters
turn into mojibake (``Soci\\xe9t\\xe9``). :func:`resolve_encoding` decides once per file, before any row is read:

- an encoding given (``--encoding``, ``[dataset] encoding``, :func:`use_encoding`) is used as is;
- ``auto``: the first :data:`SAMPLE_BYTES` are decoded as UTF-8 strictly; if that fails, charset-normalizer
  names the encoding (a note on stderr says which; a Western code page, cp1252 first, when it is among the
  plausible ones), and a file it cannot name is refused with a message that
  names the file and ``--encoding``.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
from collections.abc import Iterator
from contextvars import ContextVar

from siteclass.errors import InputError

AUTO = "auto"
SAMPLE_BYTES = 1 << 20
WESTERN = ("cp1252", "iso8859-15", "iso8859-1")  # Excel/Windows exports, then ISO Latin; in this order
_log = logging.getLogger("siteclass")
_current: ContextVar[str] = ContextVar("siteclass_csv_encoding", default=AUTO)
_noted: set[tuple[str, str]] = set()


@contextlib.contextmanager
def use_encoding(encoding: str | None) -> Iterator[None]:
    """Within the block, text tables read without an explicit encoding use *encoding* (None/'auto': detect)."""
    token = _current.set(check_encoding(encoding or AUTO))
    try:
        yield
    finally:
        _current.reset(token)


def current_encoding() -> str:
    return _current.get()


def check_encoding(encoding: str) -> str:
    """*encoding* normalised ('auto' or a Python codec name); an unknown name is an InputError."""
    if encoding.strip().lower() == AUTO:
        return AUTO
    try:
        return codecs.lookup(encoding.strip()).name
    except LookupError:
        raise InputError(f"--encoding {encoding!r} is not a known character encoding; use auto, utf-8, cp1252, "
                         "latin-1 …") from None


def is_utf8(sample: bytes) -> bool:
    """Whether *sample* (possibly cut in the middle of a character at its end) is valid UTF-8."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def resolve_encoding(sample: bytes, source: str, encoding: str | None = None) -> str:
    """The encoding to read *source* with, from the first bytes of the file (*sample*) and the encoding asked for
    (None: the one of :func:`use_encoding`, by default 'auto')."""
    asked = check_encoding(encoding or current_encoding())
    if asked != AUTO:
        return asked
    if sample.startswith(codecs.BOM_UTF8) or is_utf8(sample):
        return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    plausible = {codecs.lookup(name).name for m in matches for name in m.could_be_from_charset}
    # Western code pages first: on short or made-up text the detector's first guess can be a Baltic or Cyrillic
    # page that decodes "Société" as "Sociķtķ"; a file that cp1252 decodes as plausibly is read as cp1252.
    preferred = next((e for e in WESTERN if e in plausible and _decodes(sample, e)), None)
    found = preferred or (codecs.lookup(matches[0].encoding).name if matches else "")
    if not found or found in ("utf-8", "ascii"):
        raise InputError(f"{source} is not UTF-8 text and its encoding could not be detected; pass its encoding, "
                         "e.g. --encoding cp1252 (Excel on Windows) or --encoding latin-1")
    if (source, found) not in _noted:  # once per file and process: several readers may open one file
        _noted.add((source, found))
        _log.warning("note: %s is not UTF-8; read as %s (detected; pass --encoding to choose another)", source, found)
    return found


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        codecs.getincrementaldecoder(encoding)().decode(sample, final=False)
    except UnicodeDecodeError:
        return False
    return True


def encoding_hint(source: str, encoding: str) -> str:
    """The end of a message about a text file that could not be decoded with *encoding*."""
    return (f"{source} is not valid {encoding} text; pass its encoding, e.g. --encoding cp1252 (Excel on "
            "Windows) or --encoding latin-1")
