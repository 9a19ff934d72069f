"""Which certificates a TLS server must chain to, and which one identifies us, per host (like Docker).

Trusted certificate authorities for a host, all of them together:

1. the files given with ``--ca-cert`` / ``ca_cert=`` (every host);
2. Docker's per-host directories ``<root>/<host[:port]>/*.crt`` (``client.cert`` and ``client.key``
   there are the client certificate for mutual TLS), the roots being ``$REGKIT_CERTS_D`` when set
   (``os.pathsep``-separated), else ``~/.docker/certs.d`` then ``/etc/docker/certs.d``;
3. one base bundle: ``$REQUESTS_CA_BUNDLE``, else ``$SSL_CERT_FILE``, else the system store,
   else certifi's bundle.

requests' own environment lookup is switched off (it would also send ``~/.netrc`` passwords), so
this module reads the variables itself. It also builds each SSL context once per trust setting:
loading a CA bundle takes ~35 ms, which urllib3 would pay for every new connection.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import CA_CERT, Hint, InvalidOption

ENV_CERTS_D = "REGKIT_CERTS_D"
DEFAULT_CERTS_D = (Path("~/.docker/certs.d"), Path("/etc/docker/certs.d"))


def certs_d_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The directories holding ``<host[:port]>/`` certificate folders, in the order they are read."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CERTS_D):
        return [Path(p) for p in env[ENV_CERTS_D].split(os.pathsep) if p]
    return [p.expanduser() for p in DEFAULT_CERTS_D]


def base_bundle(environ: Mapping[str, str] | None = None) -> str:
    """The CA bundle every host starts from (see the module docstring for the order)."""
    env = os.environ if environ is None else environ
    for name in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        if env.get(name):
            return env[name]
    system = ssl.get_default_verify_paths().cafile
    if system and Path(system).is_file():
        return system
    import certifi  # requests' own dependency

    return str(certifi.where())


@dataclass(frozen=True)
class HostTls:
    """What verifies one host: extra CA files on top of the base bundle, and a client certificate."""

    ca_files: tuple[Path, ...] = ()
    client_cert: tuple[str, str] | None = None

    @property
    def sources(self) -> list[str]:
        """The files used, for the transcript and for error messages."""
        return [str(p) for p in self.ca_files] + list(self.client_cert or ())


@dataclass
class TlsSettings:
    """The trust settings of one client: ``--ca-cert`` files and the certs.d roots; bundles built on demand."""

    ca_cert: Sequence[str | os.PathLike[str]] = ()
    roots: list[Path] | None = None  # None: :func:`certs_d_roots` of the environment
    _bundles: dict[tuple[str, ...], str] = field(default_factory=dict, repr=False)
    _dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _contexts: dict[tuple[str | bool, tuple[str, str] | None], ssl.SSLContext] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        for path in self.ca_cert:
            if not Path(path).is_file():
                raise InvalidOption(
                    f"the CA file {os.fspath(path)!r} is not a readable file", hint=Hint("check ", CA_CERT)
                )

    def for_host(self, netloc: str) -> HostTls:
        """The CA files and client certificate for ``host[:port]`` (Docker's certs.d layout)."""
        ca = [Path(p) for p in self.ca_cert]
        client: tuple[str, str] | None = None
        if "/" in netloc or netloc in ("", ".", ".."):  # a hostile Location must not pick another folder
            return HostTls(tuple(ca))
        for root in self.roots if self.roots is not None else certs_d_roots():
            folder = root / netloc
            if not folder.is_dir():
                continue
            ca += sorted(folder.glob("*.crt"))
            # Docker pairs each ``name.cert`` with ``name.key`` in the same folder.
            pairs = [
                (c, c.with_suffix(".key")) for c in sorted(folder.glob("*.cert")) if c.with_suffix(".key").is_file()
            ]
            if client is None and pairs:
                client = (str(pairs[0][0]), str(pairs[0][1]))
        return HostTls(tuple(ca), client)

    def verify(self, netloc: str) -> tuple[str, tuple[str, str] | None]:
        """requests' ``verify`` (a bundle path) and ``cert`` for one host."""
        host = self.for_host(netloc)
        base = base_bundle()
        if not host.ca_files:
            return base, host.client_cert
        key = (base, *map(str, host.ca_files))
        if key not in self._bundles:
            self._bundles[key] = self._write_bundle(key)
        return self._bundles[key], host.client_cert

    def context(self, verify: str | bool, cert: tuple[str, str] | None) -> ssl.SSLContext:
        """The SSL context for a CA bundle path (False: no verification) and client certificate, made once."""
        with self._lock:  # concurrent downloads open their connections at the same moment
            if (verify, cert) not in self._contexts:
                self._contexts[verify, cert] = _new_context(verify, cert)
            return self._contexts[verify, cert]

    def _write_bundle(self, files: tuple[str, ...]) -> str:
        """One PEM file joining the base bundle and the extra CAs (requests takes a single path)."""
        parts = []
        for name in files:
            path = Path(name)
            members = sorted(path.glob("*")) if path.is_dir() else [path]
            for member in members:
                try:
                    parts.append(member.read_bytes().strip() + b"\n")
                except OSError as exc:
                    raise InvalidOption(f"cannot read the CA certificate {member}: {exc.strerror}") from None
        data = b"".join(parts)
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="regkit-ca-")
        bundle = Path(self._dir.name) / f"{hashlib.sha256(data).hexdigest()[:16]}.pem"
        bundle.write_bytes(data)
        return str(bundle)

    def hint(self, netloc: str) -> Hint:
        """How to make ``netloc``'s certificate trusted, naming the places this client reads."""
        roots = self.roots if self.roots is not None else certs_d_roots()
        folders = " or ".join(str(root / netloc) for root in roots)
        return Hint(
            f"trust its CA: put it in {folders} as ca.crt, pass ", CA_CERT, ", or set REQUESTS_CA_BUNDLE/SSL_CERT_FILE"
        )

    def close(self) -> None:
        """Remove the joined bundles."""
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


def _new_context(verify: str | bool, cert: tuple[str, str] | None) -> ssl.SSLContext:
    """The context urllib3 would make for a connection, with the bundle and client certificate loaded."""
    from urllib3.util.ssl_ import create_urllib3_context  # with the transport only: requests is loaded then

    context = create_urllib3_context(cert_reqs=ssl.CERT_REQUIRED if verify else ssl.CERT_NONE)
    if isinstance(verify, str) and Path(verify).is_dir():
        context.load_verify_locations(capath=verify)
    elif isinstance(verify, str):
        context.load_verify_locations(verify)
    elif verify:
        context.load_default_certs()
    if cert is not None:
        context.load_cert_chain(*cert)
    return context
