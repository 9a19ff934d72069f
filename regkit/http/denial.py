"""The words for a refusal (401/403): whether credentials were sent, and what to do about it, in one place.

GHCR and Artifact Registry refuse an anonymous pull of a private repository at the token service
(``403 DENIED requested access to the resource is denied``; GAR names the IAM permission), Docker
Hub with a token without access: either way, when nothing was sent the fix is to log in, not to
look for a wrong password.
"""

from __future__ import annotations

from ..errors import AccessDenied
from ..oci.reference import DOCKER_HUB_REGISTRY
from .exchange import Exchange


def login_hint(registry: str) -> str:
    """How to give credentials for ``registry``, in Python, on the command line and through Docker's config."""
    login = "docker login" if registry == DOCKER_HUB_REGISTRY else f"docker login {registry}"
    return (
        f"log in: auth=(user, password) in Python, -u USER --password-stdin on the command line, or "
        f"`{login}` (or a credential helper in ~/.docker/config.json), which regkit reads"
    )


def basic_wanted(registry: str, exchange: Exchange) -> AccessDenied:
    """The error for a Basic-only registry (ECR) asked without credentials."""
    return AccessDenied(
        f"{registry} wants a username and password (HTTP Basic); no credentials were sent",
        credentials_sent=False,
        exchange=exchange,
        hint=login_hint(registry),
    )


def access_denied(
    what: str, status: str, detail: str, registry: str, sent: str | None, exchange: Exchange | None
) -> AccessDenied:
    """The error for ``what`` refused with ``status`` and ``detail`` (the body's words, already redacted).

    ``sent`` describes the credentials sent (``the password of 'user'``), None when the request was anonymous.
    """
    said = f": {detail}" if detail else ""
    if sent is None:
        return AccessDenied(
            f"{what}: {status}{said}; no credentials were sent: {registry} refuses anonymous access "
            "(a private repository, or one that does not exist)",
            credentials_sent=False,
            exchange=exchange,
            hint=login_hint(registry),
        )
    return AccessDenied(
        f"{what}: {status}{said}; {registry} refused {sent}",
        credentials_sent=True,
        exchange=exchange,
        hint="check the credentials (expired? missing the read/pull permission?) and that the repository name is right",
    )
