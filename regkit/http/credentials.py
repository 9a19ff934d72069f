"""Credentials for HTTP Basic, bound to the registry they were given for."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidOption
from ..oci.redact import fingerprint


@dataclass(frozen=True)
class Credentials:
    """A username and password (or identity token) for HTTP Basic; the password never prints.

    A client binds credentials given without a registry to the first registry it uses them for, and
    never answers another registry's challenge with them.

    Parameters
    ----------
    username : str
        The user (``<token>`` for an identity token).
    password : str
        The password or token; redacted in every repr, log and transcript.
    registry : str, optional
        The registry they are for, as ``~/.docker/config.json`` keys them by host.
    """

    username: str
    password: str = field(repr=False)
    registry: str | None = None

    def __repr__(self) -> str:
        where = f", registry={self.registry!r}" if self.registry else ""
        return f"Credentials(username={self.username!r}, password={fingerprint(self.password)!r}{where})"


AuthArg = Credentials | tuple[str, str] | None


def as_credentials(auth: AuthArg) -> Credentials | None:
    """Accept ``(user, password)`` or :class:`Credentials`."""
    if auth is None or isinstance(auth, Credentials):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(x, str) for x in auth):
        return Credentials(*auth)
    raise InvalidOption("auth must be a (username, password) tuple or regkit.Credentials")
