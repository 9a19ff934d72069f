"""What every detector shares: the finding, the context it is judged in, severities (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ..errors import RegkitError
from ..http.endpoints import Endpoints
from ..http.exchange import Exchange
from ..oci.redact import host_of
from ..oci.reference import Reference

ERROR, WARNING, INFO = "error", "warning", "info"
# dockerd gives a mirror's /v2/ ping 15 s (moby registry.PingV2Registry), then moves on to the next endpoint.
ENGINE_MIRROR_TIMEOUT = 15.0


@dataclass(frozen=True)
class Finding:
    """One diagnosis: a short code, what happened, what to change, and the exchanges that show it.

    Attributes
    ----------
    code : str
        A stable short name (``tls-error``, ``realm-unreachable``, …).
    severity : str
        ``error``, ``warning`` or ``info``.
    message : str
        What happened.
    fix : str
        What to change, when there is something to change.
    evidence : tuple of Exchange
        The exchanges that show it.
    """

    code: str
    severity: str
    message: str
    fix: str = ""
    evidence: tuple[Exchange, ...] = field(default=(), repr=False)

    def __str__(self) -> str:
        fix = f"\n    fix: {self.fix}" if self.fix else ""
        shown = "".join(f"\n    evidence: {e.summary()}" for e in self.evidence[:3])
        return f"[{self.severity}] {self.code}: {self.message}{fix}{shown}"


@dataclass(frozen=True)
class Context:
    """What the detectors know besides the exchanges."""

    reference: Reference
    endpoints: Endpoints
    error: RegkitError | None
    engine_timeout: float = ENGINE_MIRROR_TIMEOUT
    # host:port -> the CA files trusted for it besides the base bundle (certs.d, --ca-cert)
    trusted: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    username: str = ""  # the user name given to the flow, if any (the dialect's shapes tell passwords apart)


Detector = Callable[[list[Exchange], Context], Iterable[Finding]]


def host(url: str) -> str:
    """``host:port`` of a URL (without userinfo)."""
    return host_of(url)
