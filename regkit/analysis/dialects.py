"""The same pull from several registries side by side: where each one's dialect differs, read from the exchanges.

:func:`compare_dialects` takes what pulls or diagnoses of one image recorded (anything with ``exchanges``)
and tells, per registry: the challenge, the token endpoint and its answer's fields and lifetime, the blob
redirect, the signed URL's query keys, and what the storage host refused. Nothing comes from a registry's
name: a row says what that registry answered in this run. The HTML is in :mod:`regkit.display.costs_html`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .._repr import HtmlRepr
from ..errors import UsageError
from ..http.exchange import Exchange

if TYPE_CHECKING:
    import pandas as pd

ASSUMED_LIFETIME = 60  # seconds: distribution's token spec, for an answer without expires_in
# The realm is the token endpoint's column, and the scope is the same for every registry: what is left of a
# challenge is its scheme and service, quoted or not.
_REALM_AND_SCOPE = re.compile(r'(?:realm|scope)="[^"]*",?')
REDIRECTS = range(300, 400)


class Recorded(Protocol):
    """A pull's or a diagnosis's result: the exchanges it made."""

    @property
    def exchanges(self) -> Sequence[Exchange]: ...


@dataclass(frozen=True)
class DialectRow:
    """What one registry answered to the pull, step by step.

    Attributes
    ----------
    name : str
        The registry (the lab dialect's name).
    digest : str
        The manifest's ``Docker-Content-Digest`` ("" when none came).
    challenge : str
        ``WWW-Authenticate`` with the registry's host shown as ``<registry>``; "" when none came.
    scheme : str
        ``Bearer``, ``Basic``, or "" (no challenge).
    token_endpoint : str
        ``METHOD /path``, or ``METHOD host/path`` on a host of its own; "" without a token service.
    token_fields : tuple of str
        The fields of the token answer.
    expires_in : int or None
        The answer's ``expires_in``; None when it had none (or there was no token answer).
    redirect_status : int or None
        The blob redirect's status.
    redirect_target : str
        ``storage host``, ``same host (relative Location)`` or ``same host``.
    signed_keys : tuple of str
        The query keys of the signed storage URL.
    refused : tuple of str
        ``HEAD 403`` and the like, per request the storage host refused.
    authorization_to_storage : bool
        Whether some request to the storage host carried ``Authorization``.
    """

    name: str
    digest: str  # the manifest's Docker-Content-Digest ("" when none came)
    challenge: str  # WWW-Authenticate with the registry's host shown as <registry>; "" when none came
    scheme: str  # Bearer, Basic, or "" (no challenge)
    token_endpoint: str  # "METHOD /path", or "METHOD host/path" on a host of its own; "" without a token service
    token_fields: tuple[str, ...]
    expires_in: int | None  # None: the answer had none (or there was no token answer)
    redirect_status: int | None
    redirect_target: str  # "storage host", "same host (relative Location)", "same host"
    signed_keys: tuple[str, ...]
    refused: tuple[str, ...]  # "HEAD 403" per request the storage host refused
    authorization_to_storage: bool  # some request to the storage host carried Authorization

    @property
    def lifetime(self) -> str:
        """The token's lifetime as a client must take it."""
        if not self.token_endpoint:
            return "—"
        if self.expires_in is None:
            return f"{ASSUMED_LIFETIME} s (assumed: no expires_in)"
        return f"{self.expires_in} s"

    def record(self) -> dict[str, Any]:
        """The row for a DataFrame.

        Returns
        -------
        dict
            Column name -> the value as shown: registry, challenge (without realm and scope), token
            endpoint, token fields, token lifetime, redirect, signed query keys, storage refuses.
        """
        return {
            "registry": self.name,
            "challenge": _REALM_AND_SCOPE.sub("", self.challenge).rstrip(", ") or "none: served without a token",
            "token endpoint": self.token_endpoint or "—",
            "token fields": ", ".join(self.token_fields) or "—",
            "token lifetime": self.lifetime,
            "redirect": f"{self.redirect_status} to the {self.redirect_target}" if self.redirect_status else "—",
            "signed query keys": ", ".join(self.signed_keys) or "—",
            "storage refuses": ", ".join(self.refused) or "nothing seen",
        }


def _names(rows: Sequence[DialectRow]) -> str:
    return ", ".join(row.name for row in rows) or "none"


@dataclass(frozen=True)
class DialectComparison(HtmlRepr):
    """One row per registry (:class:`DialectRow`); ``summary`` says what differs, from this run's answers.

    Attributes
    ----------
    rows : tuple of DialectRow
        What each registry answered, in the order given.
    """

    rows: tuple[DialectRow, ...]

    def frame(self) -> pd.DataFrame:
        """One row per registry, the columns of :meth:`DialectRow.record`.

        Returns
        -------
        pandas.DataFrame
            Indexed by registry.
        """
        import pandas as pd

        return pd.DataFrame.from_records([row.record() for row in self.rows]).set_index("registry")

    @property
    def summary(self) -> str:
        """This run's differences in one paragraph."""
        rows = self.rows
        digests = {row.digest for row in rows}
        same = f"the same manifest {next(iter(digests))[:19]}…" if len(digests) == 1 else f"{len(digests)} manifests"
        tokens = [row for row in rows if row.token_endpoint]
        no_expiry = [row for row in tokens if row.expires_in is None]
        redirected = [row for row in rows if row.redirect_status]
        found = [row for row in redirected if row.redirect_status == 302]
        same_host = [row for row in redirected if row.redirect_target != "storage host"]
        refusing = [row for row in rows if row.refused]
        leaked = [row for row in rows if row.authorization_to_storage]
        challenges = [f"{len(self.named_rows('Bearer'))} Bearer"]
        challenges += [f"Basic only from {_names(basic)}" for basic in [self.named_rows("Basic")] if basic]
        challenges += [f"none from {_names(bare)}" for bare in [self.named_rows("")] if bare]
        return (
            f"{len(rows)} registries served {same}. Challenges: {', '.join(challenges)}. "
            f"{len(no_expiry)} of {len(tokens)} token answers carry no expires_in ({_names(no_expiry)}): "
            f"a client assumes {ASSUMED_LIFETIME} s. "
            f"Blob redirects: 302 from {_names(found)}, 307 from the other {len(redirected) - len(found)}; "
            f"to the registry's own host from {_names(same_host)}. "
            f"The storage host refused a HEAD of a GET-signed URL from {_names(refusing)}. "
            f"Requests to a storage host carrying Authorization: {len(leaked)}."
        )

    def named_rows(self, scheme: str) -> list[DialectRow]:
        """The rows whose challenge has ``scheme``.

        Parameters
        ----------
        scheme : str
            ``Bearer``, ``Basic``, or "" for none.

        Returns
        -------
        list of DialectRow
            In the order of :attr:`rows`.
        """
        return [row for row in self.rows if row.scheme == scheme]


def _host(url: str) -> str:
    return urlsplit(url).netloc


def _row(name: str, exchanges: Sequence[Exchange]) -> DialectRow:
    if not exchanges:
        raise UsageError(f"{name} recorded no exchanges", hint="pass a pull's or a diagnosis's result")
    registry = _host(exchanges[0].url)
    challenged = next((e for e in exchanges if e.status == 401 and e.header("www-authenticate")), None)
    challenge = (challenged.header("www-authenticate") or "") if challenged else ""
    token = next((e for e in exchanges if e.step == "token" and e.method != "HEAD" and e.status == 200), None)
    fields: dict[str, Any] = {}
    endpoint = ""
    if token is not None:
        where = urlsplit(token.url)
        endpoint = f"{token.method} {'' if where.netloc == registry else where.netloc}{where.path}"
        try:
            fields = json.loads(token.body_preview)
        except ValueError:
            fields = {}
    manifest = next((e for e in exchanges if e.step == "manifest" and e.header("docker-content-digest")), None)
    redirect = next((e for e in exchanges if e.step == "blob" and e.status in REDIRECTS), None)
    location = (redirect.header("location") or "") if redirect else ""
    target = urlsplit(location).netloc
    storage = [e for e in exchanges if "redirect" in e.note or e.note.startswith("probe")]
    return DialectRow(
        name=name,
        digest=(manifest.header("docker-content-digest") or "") if manifest else "",
        challenge=challenge.replace(registry, "<registry>"),
        scheme=challenge.split(" ", 1)[0] if challenge else "",
        token_endpoint=endpoint,
        token_fields=tuple(fields),
        expires_in=fields.get("expires_in"),
        redirect_status=redirect.status if redirect else None,
        redirect_target=(
            "same host (relative Location)"
            if redirect and not target
            else "same host"
            if target == registry
            else "storage host"
        ),
        signed_keys=tuple(dict.fromkeys(key for key, _ in parse_qsl(urlsplit(location).query))),
        refused=tuple(f"{e.method} {e.status}" for e in storage if e.status is not None and e.status >= 400),
        authorization_to_storage=any(k.lower() == "authorization" for e in storage for k, _ in e.request_headers),
    )


def compare_dialects(results: Mapping[str, Recorded]) -> DialectComparison:
    """The same image from several registries, side by side.

    Parameters
    ----------
    results : mapping of str to a result with ``exchanges``
        Per registry (named as you like), what pulling or diagnosing the image recorded
        (:func:`regkit.pull`, :func:`regkit.diagnose`; a diagnosis also probes the storage host with ``HEAD``).

    Returns
    -------
    DialectComparison
        One row per registry, a DataFrame (``frame()``) and a ``summary`` of what differs.

    Raises
    ------
    UsageError
        No results, or one that recorded no exchanges.
    """
    if not results:
        raise UsageError("compare_dialects needs at least one result", hint="{name: regkit.diagnose(ref), …}")
    return DialectComparison(tuple(_row(name, list(result.exchanges)) for name, result in results.items()))
