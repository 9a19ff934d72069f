"""Every error regkit raises, rooted in :class:`RegkitError`.

The tree::

    RegkitError                  anything regkit raises on purpose
    ├── UsageError               bad input from the caller (CLI exit code 2)
    │   ├── InvalidReference     an image reference that does not parse
    │   ├── InvalidPlatform      a platform string like ``linux/arm64/v8`` that does not parse
    │   └── InvalidOption        any other bad argument (output path, layer format, credentials)
    ├── RegistryError            the registry or a box in between answered, but not as hoped
    │   ├── AuthError            the challenge or the token exchange failed
    │   │   └── AccessDenied     401/403 refusing access: ``credentials_sent`` says whether any were given
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
    ├── Cancelled                work given up: another download failed, or a signal asked to stop
    └── LabError                 a local lab server could not be started or used
        └── PortInUse            a lab server could not listen on the port it was given

Errors caused by an HTTP exchange carry it as ``.exchange`` (already redacted). A hint is a :class:`Hint`:
words and, as data, the :class:`Option` that would fix the error (``error.hint.option``), which each front
end spells its own way: Python its keyword (``insecure=True``), the command line its flag
(``--insecure-registry``), the HTML repr both. One warning: :class:`CacheWarning`, a blob cache that cannot
be used as asked (regkit says what it does instead).

This module is the root of the layers: every package of regkit may import it, and it imports
only :mod:`regkit._repr` (the shared HTML repr), not even the exchange type it carries.
"""

from __future__ import annotations

from typing import Any, Literal

from ._repr import HtmlRepr

# A regkit.http.exchange.Exchange; not imported, even for type checking, as http sits above this module.
Exchange = Any

# Who says a hint: the Python API, the command line, or the HTML repr (which says both).
Front = Literal["python", "cli", "html"]


class Option:
    """An option that would fix an error, as each front end spells it.

    Parameters
    ----------
    python : str
        The keyword as Python code takes it, e.g. ``insecure=True``.
    cli : str
        The command line's flag, e.g. ``--insecure-registry``.
    """

    __slots__ = ("cli", "python")

    def __init__(self, python: str, cli: str) -> None:
        self.python = python
        self.cli = cli

    def spelled(self, front: Front) -> str:
        """The option in ``front``'s words.

        Parameters
        ----------
        front : {"python", "cli", "html"}
            Who says it; HTML names both.

        Returns
        -------
        str
            The keyword, the flag, or ``keyword (command line: flag)``.
        """
        if front == "html":
            return f"{self.python} (command line: {self.cli})"
        return self.cli if front == "cli" else self.python

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Option) and (self.python, self.cli) == (other.python, other.cli)

    def __hash__(self) -> int:
        return hash((self.python, self.cli))

    def __repr__(self) -> str:
        return f"Option({self.python!r}, {self.cli!r})"


# The options library messages point to, named once.
INSECURE = Option("insecure=True", "--insecure-registry")
CREDENTIALS = Option("auth=(user, password)", "-u USER --password-stdin")
SPEED = Option("speed_limit=SpeedLimit(bytes_per_second, seconds)", "--min-speed/--speed-time")
CA_CERT = Option("ca_cert=FILE", "--ca-cert FILE")
PLATFORM = Option("platform=", "--platform")


class Hint(str):
    """What to change, in words and options; ``str(hint)`` says it as Python does.

    Parameters
    ----------
    *parts : str or Option
        The words, with the options that would fix the error where they belong.
    """

    parts: tuple[str | Option, ...]

    def __new__(cls, *parts: str | Option) -> Hint:
        self = super().__new__(cls, _said(parts, "python"))
        self.parts = tuple(part for part in parts if part != "")
        return self

    @property
    def option(self) -> Option | None:
        """The first option that would fix the error, or None when the hint names none."""
        return next((part for part in self.parts if isinstance(part, Option)), None)

    def said(self, front: Front) -> str:
        """The hint in ``front``'s words.

        Parameters
        ----------
        front : {"python", "cli", "html"}
            Who says it.

        Returns
        -------
        str
            The words with each option spelled for ``front``.
        """
        return _said(self.parts, front)

    def __add__(self, other: str) -> Hint:  # type: ignore[override]  # a Hint plus words keeps its options
        return Hint(*self.parts, *(other.parts if isinstance(other, Hint) else (other,)))

    def __radd__(self, other: str) -> Hint:
        return Hint(other, *self.parts)


def _said(parts: tuple[str | Option, ...], front: Front) -> str:
    return "".join(part.spelled(front) if isinstance(part, Option) else part for part in parts)


class RegkitError(Exception, HtmlRepr):
    """Base of all regkit errors; ``exchange`` is the failing HTTP exchange, if any.

    Parameters
    ----------
    message : str
        What went wrong.
    exchange : Exchange, optional
        The failing HTTP exchange (already redacted).
    hint : str or Hint, optional
        What to change; kept as a :class:`Hint` (``error.hint.option`` names the option that fixes it).
    """

    exit_code = 1

    def __init__(self, message: str, *, exchange: Exchange | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.hint = hint

    @property
    def hint(self) -> Hint | None:
        """What to change, with the option that would fix it (``hint.option``), or None."""
        return self._hint

    @hint.setter
    def hint(self, value: str | None) -> None:
        self._hint = value if value is None or isinstance(value, Hint) else Hint(value)

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


class AccessDenied(AuthError):
    """The registry or its token service refused access; ``credentials_sent`` is False for an anonymous request.

    Parameters
    ----------
    message : str
        What was refused, and by whom.
    credentials_sent : bool
        Whether the refused request carried credentials (False: log in, rather than look for a bad password).
    **kw
        ``exchange`` and ``hint``, as :class:`RegkitError` takes them.
    """

    def __init__(self, message: str, *, credentials_sent: bool, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.credentials_sent = credentials_sent


class NotFound(RegistryError):
    """The registry does not know the manifest or blob."""


class ManifestError(RegistryError):
    """A manifest that cannot be used: wrong media type, too large or malformed."""


class NoMatchingPlatform(RegistryError):
    """The index has no image for the wanted platform; ``available`` lists those it has.

    Parameters
    ----------
    message : str
        Which platform was wanted.
    available : list of Platform, optional
        The platforms the index offers.
    **kw
        ``exchange`` and ``hint``, as :class:`RegkitError` takes them.
    """

    def __init__(self, message: str, *, available: list[Any] | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.available = available or []


class ListingStopped(RegistryError):
    """A tag list or catalogue that could not be finished (a loop, a repeated page, a budget); ``listed`` holds
    the names listed before it stopped.

    Parameters
    ----------
    message : str
        What stopped the listing.
    listed : tuple of str
        The names listed before it stopped.
    **kw
        What :class:`RegkitError` takes (``exchange``, ``hint``).
    """

    def __init__(self, message: str, *, listed: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(message, **kw)
        self.listed = listed


class UnexpectedResponse(RegistryError):
    """A status or body the client cannot use."""


class TransportError(RegkitError):
    """No HTTP answer at all: DNS, refused, TLS, timeout, too slow.

    Parameters
    ----------
    message : str
        What failed, naming the host.
    kind : str, default "other"
        ``dns``, ``refused``, ``tls``, ``http-to-https``, ``timeout``, ``reset``, ``slow``, …
        (``reset`` is the one worth retrying).
    **kw
        ``exchange`` and ``hint``, as :class:`RegkitError` takes them.
    """

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
    """Layer contents past a budget (see :mod:`regkit.oci.budgets`): ``budget`` names it, ``option`` raises it.

    Parameters
    ----------
    message : str
        What went past the budget.
    budget : str
        The :class:`~regkit.oci.budgets.Budgets` field (``layer_bytes``, …).
    option : str
        The command line's flag that raises it; the hint names both it and the keyword.
    **kw
        ``exchange`` and ``hint``, as :class:`RegkitError` takes them.
    """

    def __init__(self, message: str, *, budget: str, option: str, **kw: Any) -> None:
        kw.setdefault(
            "hint",
            Hint(
                "raise the budget with ", Option(f"budgets=Budgets({budget}=...)", option), " if the image is trusted"
            ),
        )
        super().__init__(message, **kw)
        self.budget = budget
        self.option = option


class OutputError(RegkitError):
    """The result could not be written."""


class UnsafeContent(OutputError):
    """Layer entries (absolute paths, ``..``, outward links, devices) that an export refuses to write."""


class Cancelled(RegkitError):
    """Work stopped: a download because another one failed, any long loop because a signal asked to stop."""


class LabError(RegkitError):
    """A local lab server could not be started, reached or stopped."""


class PortInUse(LabError):
    """A lab server could not listen on the port it was given.

    Parameters
    ----------
    message : str
        What could not start.
    server : str
        The lab server (``proxy``, ``registry``, …).
    port : int
        The port that is taken.
    """

    def __init__(self, message: str, *, server: str, port: int) -> None:
        super().__init__(message, hint=f"free port {port}, or let the lab choose its ports")
        self.server = server
        self.port = port


class CacheWarning(UserWarning):
    """The blob cache cannot be used as asked; the message names it and what regkit does instead."""
