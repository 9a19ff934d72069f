"""Refusals that depend on the registry's dialect: denied with no credentials, denied at the token
service, expired short-lived passwords, and registries that take Basic on every request (pure, no I/O).

The dialects are in ``../shared/notes/registry-dialects.md``: GHCR and Artifact Registry refuse at the
token service (GAR names the IAM permission), ECR's passwords last 12 h, GAR's access tokens 1 h.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from ..errors import AccessDenied
from ..http.denial import login_hint
from ..http.exchange import Exchange
from ..http.httperrors import registry_errors
from ..oci.challenge import find_challenge
from ..steps.auth import challenges_of
from .base import ERROR, INFO, Context, Finding, host

ECR_USER, GAR_TOKEN_USER = "AWS", "oauth2accesstoken"
_PERMISSION = re.compile(r'Permission "([^"]+)" denied')
_EXPIRED = re.compile(r"\bexpired\b", re.IGNORECASE)
# The transcript note regkit.steps.token_request puts on the requests that trade an identity token.
IDENTITY_NOTE = "identity token"


def credentials_sent(exchanges: list[Exchange]) -> bool:
    """Whether any request carried the user's credentials (Basic to a registry, or to a token service)."""
    return any(e.credentials_to for e in exchanges) or any(
        name.lower() == "authorization" and value.lower().startswith("basic ")
        for e in exchanges
        for name, value in e.request_headers
    )


def _denial(context: Context) -> Exchange | None:
    """The 401 or 403 the flow ended with."""
    error = context.error
    exchange = error.exchange if error is not None else None
    if exchange is None or exchange.status not in (401, 403) or "redirect" in exchange.note:
        return None  # a storage host's refusal (after a redirect) is the network detectors' business
    return exchange


def _said(exchange: Exchange) -> str:
    """What the server said: its error entries, or the start of its body."""
    return "; ".join(registry_errors(exchange.body_preview)) or exchange.body_preview.strip()[:200]


def anonymous_denied(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """Refused, and no credentials were sent: nothing was wrong with a password, there was none."""
    denied = _denial(context)
    error = context.error
    sent = error.credentials_sent if isinstance(error, AccessDenied) else credentials_sent(exchanges)
    if denied is None or sent or _extra_scopes(context):
        return  # logging in helps nothing when an extra scope was refused (scope-rejected)
    registry = context.reference.registry
    said = _said(denied)
    yield Finding(
        "anonymous-denied",
        ERROR,
        f"{host(denied.url)} refused an anonymous pull of {context.reference.repository} ({denied.status}"
        + (f": {said}" if said else "")
        + "): no credentials were sent, so no password was wrong; the repository is private or needs a login",
        login_hint(registry),
        (denied,),
    )


def _token_denial(context: Context) -> Exchange | None:
    """The token service's own refusal the flow ended with (not the registry's challenge to the probe)."""
    denied = _denial(context)
    if denied is None or denied.step != "token" or "/manifests/" in urlsplit(denied.url).path:
        return None
    return denied


def _scopes(exchange: Exchange) -> list[str]:
    """The scopes a token request asked for."""
    return " ".join(parse_qs(urlsplit(exchange.url).query).get("scope", [])).split()


def _extra_scopes(context: Context) -> list[str]:
    """Scopes of a refused token request other than the repository's own (the whole request was refused)."""
    denied = _token_denial(context)
    own = f"repository:{context.reference.repository}:"
    return [scope for scope in _scopes(denied) if not scope.startswith(own)] if denied else []


def scope_rejected(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A strict token service refused a request that asked for more than the repository's own scope."""
    denied, extra = _token_denial(context), _extra_scopes(context)
    own = f"repository:{context.reference.repository}:"
    if denied is None or not extra:
        return
    yield Finding(
        "scope-rejected",
        ERROR,
        f"the token service {host(denied.url)} refused the whole request ({denied.status}: {_said(denied)}), which "
        f"asked for {', '.join(extra)} besides {own}pull: strict services (GHCR, Artifact Registry) refuse all "
        "scopes when one is unknown (containerd#9648)",
        "ask for the repository's own scope only: the extra one comes from the registry's challenge, rewritten by "
        "a mirror that namespaces its upstreams; pull from the registry directly, or use a mirror that keeps "
        "the challenge as it is",
        (denied,),
    )


def denied_at_token_service(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """The token service refused the scope outright, instead of handing out a token with less access."""
    denied = _token_denial(context)
    if denied is None or (denied.status == 401 and credentials_sent(exchanges)) or _extra_scopes(context):
        return  # a wrong or expired password, or a refusal of the extra scope (scope-rejected)
    scopes = _scopes(denied)
    permission = _PERMISSION.search(_said(denied))
    missing = f"the permission {permission[1]}" if permission else f"the scope {' '.join(scopes) or '(none asked)'}"
    yield Finding(
        "denied-at-token-service",
        ERROR,
        f"the token service {host(denied.url)} refused {missing} with {denied.status} ({_said(denied)}): GHCR "
        "and Artifact Registry deny here, where Docker Hub hands out a token with empty access",
        f"grant the account {missing} on {context.reference.repository}"
        + ("" if credentials_sent(exchanges) else ", and log in (nothing was sent)"),
        (denied,),
    )


def credentials_expired(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A short-lived password past its life: ECR's 12 h (it says so), GAR's 1 h access token (a plain 401)."""
    denied = _denial(context)
    if denied is None or not credentials_sent(exchanges) or IDENTITY_NOTE in denied.note:
        return  # a refused identity token is the identity-token finding's
    expired = _EXPIRED.search(_said(denied)) is not None
    if expired and context.username == ECR_USER:
        lifetime = "ECR passwords last 12 h"
        renew = "aws ecr get-login-password | docker login --username AWS --password-stdin {registry}"
    elif context.username == GAR_TOKEN_USER and denied.status == 401:
        # An expired access token may get a plain 401 without saying why: the user name tells the shape.
        lifetime = "Artifact Registry access tokens (user oauth2accesstoken) last 1 h"
        renew = (
            "gcloud auth print-access-token | docker login -u oauth2accesstoken --password-stdin https://{registry} "
            "(or log in as _json_key with a service account key, which does not expire)"
        )
    elif expired:
        lifetime, renew = "the registry says they expired", "docker login {registry}"
    else:
        return
    yield Finding(
        "credentials-expired",
        ERROR,
        f"{host(denied.url)} refused the credentials of {context.username or 'the user'} ({denied.status}: "
        f"{_said(denied)}): {lifetime}",
        f"get a fresh password and log in again: {renew.format(registry=context.reference.registry)}; "
        "a credential helper renews it for you",
        (denied,),
    )


def basic_only_registry(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A registry whose challenge is Basic with no Bearer: no token service, the password on every request."""
    for exchange in exchanges:
        if exchange.status != 401:
            continue
        challenges = challenges_of(exchange)
        if challenges and find_challenge(challenges, "bearer") is None and find_challenge(challenges, "basic"):
            yield Finding(
                "basic-only-registry",
                INFO,
                f"{host(exchange.url)} challenges with Basic only (as Amazon ECR does): there is no token "
                "service, and the password goes with every request",
                "nothing to change for pulls; the password is short-lived on ECR (12 h), so renew it, and "
                "use https so it never travels in clear text",
                (exchange,),
            )
            return


def identity_token(exchanges: list[Exchange], context: Context) -> Iterable[Finding]:
    """A Docker identity token (an OAuth2 refresh token) traded at the realm: how, where, and whether it took."""
    trades = [e for e in exchanges if e.step == "token" and IDENTITY_NOTE in e.note and e.status is not None]
    if not trades:
        return
    last = trades[-1]
    how = (
        "the OAuth2 form POST grant_type=refresh_token"
        if last.method == "POST"
        else "the Basic password of a GET (the realm answered the POST form with "
        + ", ".join(str(e.status) for e in trades if e.method == "POST")
        + ")"
    )
    what = (
        f"the identity token (an OAuth2 refresh token: config.json's identitytoken, or a credential helper's "
        f"<token> user) for {context.reference.registry}"
    )
    if last.status == 200:
        yield Finding(
            "identity-token",
            INFO,
            f"{what} was traded at {host(last.url)} for an access token to repository:"
            f"{context.reference.repository}:pull, with {how}; the password-shaped user in config.json was not used",
            "nothing to change; the identity token is a long-lived secret: keep ~/.docker/config.json private",
            tuple(trades),
        )
    elif last.status in (400, 401, 403):
        yield Finding(
            "identity-token",
            ERROR,
            f"{what} was refused at {host(last.url)} ({last.status}: {_said(last)}) when traded with {how}: "
            "it expired or was revoked (ACR's refresh tokens last hours)",
            f"log in again to write a fresh one: az acr login --name <registry>, or docker login "
            f"{context.reference.registry}",
            tuple(trades),
        )
