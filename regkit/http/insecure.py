"""``--insecure-registry`` the way Docker does it: HTTPS without certificate checks first, plain HTTP
when that fails, remembered per host for the client's life.

Only the registry's own host (no mirror in between) falls back; a mirror URL says its scheme.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

# A host that does not resolve or a URL that cannot be sent fails the same way over plain HTTP.
_NO_FALLBACK = {"dns", "other"}
PLAIN_NOTE = "plain HTTP after HTTPS failed, as Docker does for an insecure registry"


class SchemeChoice:
    """Which scheme each insecure registry host answered on: ``https`` until HTTPS fails there."""

    def __init__(self) -> None:
        self._schemes: dict[str, str] = {}

    def scheme(self, netloc: str) -> str:
        """The scheme to use for ``netloc``, registering it as an insecure registry host."""
        return self._schemes.setdefault(netloc, "https")

    def fallback(self, url: str, kind: str) -> str | None:
        """The plain-HTTP URL to try after an HTTPS failure of ``kind``, or None when none applies."""
        parts = urlsplit(url)
        # Already "http": a concurrent request fell back first, and this one was sent before it knew.
        if parts.scheme != "https" or parts.netloc not in self._schemes or kind in _NO_FALLBACK:
            return None
        self._schemes[parts.netloc] = "http"
        return urlunsplit(parts._replace(scheme="http"))
