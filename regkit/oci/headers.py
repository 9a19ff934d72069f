"""Numbers in header values, read strictly (pure)."""

from __future__ import annotations


def unsigned(text: str | None) -> int | None:
    """A non-negative decimal integer, or None: ``str.isdigit`` alone would accept ``²`` and ``٣``."""
    if text is None:
        return None
    value = text.strip()
    return int(value) if value.isascii() and value.isdigit() else None
