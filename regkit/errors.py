"""Every error regkit raises, rooted in :class:`RegkitError`.

The tree::

    RegkitError                  anything regkit raises on purpose
    ├── UsageError               bad input from the caller (CLI exit code 2)
    │   ├── InvalidReference     an image reference that does not parse
    │   ├── InvalidPlatform      a platform string like ``linux/arm64/v8`` that does not parse
    │   └── InvalidOption        any other bad argument (output path, layer format, credentials)
    ├── RegistryError            the registry or a box in between answered, but not as hoped
    │   ├── AuthError            the challenge or the token exchange failed
    │   ├── NotFound             manifest or blob unknown (404)
    │   ├── ManifestError        a manifest that is unusable: wrong media type, too large, malformed
    │   ├── NoMatchingPlatform   an index without an image for the wanted platform
    │   └── UnexpectedResponse   any other status or body we cannot use
    ├── TransportError           no HTTP answer at all: DNS, refused, TLS, timeout
    ├── VerificationError        bytes that are not what was promised
    │   ├── DigestMismatch       content digest differs from the expected one
    │   ├── SizeMismatch         content length differs from the descriptor's size
    │   └── BudgetExceeded       layer contents costing more than a budget allows (bytes, entries, path bytes)
    ├── OutputError              writing the result failed (disk, permissions, existing target)
    │   └── UnsafeContent        an export refused: entries would write outside the target directory
    ├── Cancelled                a download given up because another failed or the pull was interrupted
    └── LabError                 a local lab server could not be started or used
        └── PortInUse            a lab server could not listen on the port it was given

Errors caused by an HTTP exchange carry it as ``.exchange`` (already redacted).

This module is the root of the layers: every package of regkit may import it, and it imports
only :mod:`regkit._repr` (the shared HTML repr), not even the exchange type it carries.
"""

from __future__ import annotations

from typing import Any

from ._repr import HtmlRepr

# A regkit.http.exchange.Exchange; not imported, even for type checking, as http sits above this module.
Exchange = Any


class RegkitError(Exception, HtmlRepr):
    """Base of all regkit errors; ``exchange`` is the failing HTTP exchange, if any."""

    exit_code = 1

    def __init__(self, message: str, *, exchange: Exchange | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class UsageError(RegkitError):
    """The caller gave input that cannot work; fix the input."""

    exit_code = 2


class InvalidReference(UsageError):
    """An image reference that does not follow the distribution reference grammar."""


class InvalidPlatform(UsageError):
    """A platform string that is not ``os/arch[/variant]``."""


class InvalidOption(UsageError):
    """An argument other than a reference or platform that cannot be used."""


class RegistryError(RegkitError):
    """The server answered, but not with what the protocol promises."""


class AuthError(RegistryError):
    """The registry's challenge or the token service refused or misbehaved."""


class NotFound(RegistryError):
    """The registry does not know the manifest or blob."""


class ManifestError(RegistryError):
    """A manifest that cannot be used: wrong media type, too large or malformed."""


class NoMatchingPlatform(RegistryError):
    """An index that has no image for the requested platform."""

    def __init__(self, message: str, *, available: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.available = available or []


class ListingStopped(RegistryError):
    """A tag list or catalogue that could not be finished (a loop, a repeated page, a budget); ``listed`` holds
    the names listed before it stopped."""

    def __init__(self, message: str, *, listed: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.listed = listed


class UnexpectedResponse(RegistryError):
    """A status or body the client cannot use."""


class TransportError(RegkitError):
    """No usable HTTP answer: DNS failure, refused connection, TLS error, timeout."""

    def __init__(self, message: str, *, kind: str = "other", **kw: Any) -> None:
        super().__init__(message, **kw)
        self.kind = kind  # see regkit.http.transport._describe; "reset" is the transient one

    @property
    def transient(self) -> bool:
        """True when trying again may help (the connection broke, rather than being refused)."""
        return self.kind == "reset"


class VerificationError(RegkitError):
    """Content that does not match its digest or size."""


class DigestMismatch(VerificationError):
    """The content's digest is not the expected one."""


class SizeMismatch(VerificationError):
    """The content's length is not the expected one."""


class BudgetExceeded(VerificationError):
    """Layer contents past a budget (see :mod:`regkit.oci.budgets`): ``budget`` names it, ``option`` raises it."""

    def __init__(self, message: str, *, budget: str, option: str, **kw: Any) -> None:
        kw.setdefault("hint", f"raise the budget with {option} or Budgets({budget}=...) if the image is trusted")
        super().__init__(message, **kw)
        self.budget = budget
        self.option = option


class OutputError(RegkitError):
    """The result could not be written."""


class UnsafeContent(OutputError):
    """Layer entries (absolute paths, ``..``, outward links, devices) that an export refuses to write."""


class Cancelled(RegkitError):
    """A download stopped because another one failed or the pull was interrupted."""


class LabError(RegkitError):
    """A local lab server could not be started, reached or stopped."""


class PortInUse(LabError):
    """A lab server could not listen on its port: another program holds it (``server``, ``port`` say which)."""

    def __init__(self, message: str, *, server: str, port: int) -> None:
        super().__init__(message, hint=f"free port {port}, or let the lab choose its ports")
        self.server = server
        self.port = port
