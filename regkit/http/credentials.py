"""Credentials for HTTP Basic, bound to the registry they were given for."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import InvalidOption
from ..oci.redact import fingerprint

# The user Docker writes next to an identity token (``az acr login``), and the one ACR documents for
# ``docker login`` with a refresh token as the password.
NULL_USER = "00000000-0000-0000-0000-000000000000"
# A credential helper's Username when its Secret is an identity token (Docker's convention).
TOKEN_USER = "<token>"


@dataclass(frozen=True)
class Credentials:
    """A username and password for HTTP Basic, or a Docker identity token; the secret never prints.

    ``registry`` is the registry they are for (as ``~/.docker/config.json`` keys them by host); a
    client binds credentials given without one to the first registry it uses them for, and never
    answers another registry's challenge with them. With ``identity_token`` the password is an
    OAuth2 refresh token (``identitytoken`` in ``config.json``), traded at the token service with
    a ``POST`` (distribution's OAuth2 token form), not sent as Basic.
    """

    username: str
    password: str = field(repr=False)
    registry: str | None = None
    identity_token: bool = False

    @property
    def basic_user(self) -> str:
        """The user for HTTP Basic: an identity token's placeholder user becomes the null GUID ACR documents."""
        return NULL_USER if self.identity_token and self.username in ("", TOKEN_USER) else self.username

    @property
    def described(self) -> str:
        """What these credentials are, for messages: ``the password of 'user'`` or ``the identity token``."""
        return "the identity token" if self.identity_token else f"the password of {self.username!r}"

    def __repr__(self) -> str:
        where = f", registry={self.registry!r}" if self.registry else ""
        if self.identity_token:
            return f"Credentials(identity_token={fingerprint(self.password)!r}{where})"
        return f"Credentials(username={self.username!r}, password={fingerprint(self.password)!r}{where})"


AuthArg = Credentials | tuple[str, str] | None


def as_credentials(auth: AuthArg) -> Credentials | None:
    """Accept ``(user, password)`` or :class:`Credentials`."""
    if auth is None or isinstance(auth, Credentials):
        return auth
    if isinstance(auth, tuple) and len(auth) == 2 and all(isinstance(x, str) for x in auth):
        return Credentials(*auth)
    raise InvalidOption("auth must be a (username, password) tuple or regkit.Credentials")
