"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import pytest

import regkit
from regkit.lab import Lab
from regkit.lab import imagebuild as ib
from regkit.lab.dialectlab import DialectLab
from regkit.lab.dialects import DIALECTS
from regkit.lab.images import SampleImage
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_image

# Every dialect but Docker Hub's (the hub lab's own).
DIALECT_NAMES = [name for name in DIALECTS if name != "hub"]


@contextmanager
def started_dialect_labs(
    tmp_path_factory: pytest.TempPathFactory, registry: RegistryServer, names: Iterable[str], prefix: str
) -> Iterator[dict[str, DialectLab]]:
    """The dialect labs ``names``, each in a fresh directory, in front of the session's ``registry``; stopped after."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(Lab(tmp_path_factory.mktemp(f"{prefix}-{name}"), dialect=name, registry=registry))
            for name in names
        }


def sample(samples: list[SampleImage], repository: str, tag: str) -> SampleImage:
    """The sample image with this repository and tag."""
    return next(s for s in samples if (s.repository, s.tag) == (repository, tag))


# The public sample images every pull test runs over.
PULLABLE = [
    ("library/busybox", "latest"),
    ("library/busybox", "docker"),
    ("library/busybox", "multiarch"),
    ("library/busybox", "manifest-list"),
    ("library/whiteout", "latest"),
    ("library/layers", "latest"),
]


# The checkout these tests belong to: subprocesses must run its regkit, not an installed one.
ROOT = Path(__file__).resolve().parent.parent


def checkout_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's environment) with this checkout first on PYTHONPATH."""
    env = dict(os.environ if env is None else env)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def cli(
    *args: str, cwd: Path | None = None, stdin: str = "", env: dict[str, str] | None = None, isolated: bool = False
) -> subprocess.CompletedProcess[str]:
    """``python -m regkit ARGS`` of this checkout (with ``env`` added to this process's environment).

    ``isolated`` leaves out the machine's ``DOCKER_*`` and proxy variables, so only ``env`` decides the route.
    """
    base = {k: v for k, v in os.environ.items() if not (isolated and (k.startswith("DOCKER_") or "proxy" in k.lower()))}
    return subprocess.run(
        [sys.executable, "-m", "regkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=checkout_env({**base, **(env or {})}),
    )


def every_output(client: regkit.Client, *errors: BaseException) -> str:
    """Everything a user can see of a client's work: reprs, HTML, HAR, JSON lines, curl, the table, errors."""
    exchanges = list(client.transcript)
    parts = [repr(client), str(client.transcript), client.transcript._repr_html_(), client.transcript.to_jsonl()]
    parts += [json.dumps(client.transcript.to_har()), client.transcript.to_dataframe().to_csv()]
    parts += [e.to_curl() for e in exchanges] + [e._repr_html_() for e in exchanges] + [repr(e) for e in exchanges]
    for error in errors:
        parts += [str(error), repr(error), getattr(error, "_repr_html_", lambda: "")()]
    return "\n".join(parts)


def registry_blob_file(registry, digest: regkit.Digest) -> Path:
    """Where docker-registry keeps a blob (or manifest) on disk."""
    return registry.storage_dir / "docker/registry/v2/blobs" / digest.algorithm / digest.hex[:2] / digest.hex / "data"


def push_unique(registry, name: str, text: bytes) -> ib.BuiltImage:
    """An image no other test uses, so tampering with its storage harms nobody."""
    image = ib.build_image([(ib.tar_layer([ib.file("only.txt", text)]), "gzip")])
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(f"{registry.host}/{name}:v1"), image)
    return image


class Member(NamedTuple):
    """A tar member for a crafted layer; ``name`` and ``link`` are written exactly as given."""

    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    link: str = ""
    mode: int = 0o644


def crafted(*members: Member) -> bytes:
    """An uncompressed layer tar; tarfile does not sanitise names on write, so hostile ones stay hostile."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            info = tarfile.TarInfo(member.name)
            info.type, info.linkname, info.mode, info.size = member.type, member.link, member.mode, len(member.data)
            tar.addfile(info, io.BytesIO(member.data) if member.data else None)
    return buffer.getvalue()


def push(registry, name: str, *layers: bytes, compression: str = "gzip") -> str:
    """Push an image of these layer tars under a repository no other test uses; its reference."""
    ref = f"{registry.host}/{name}:v1"
    with regkit.Client(insecure=True) as client:
        push_image(client, regkit.resolve(ref), ib.build_image([(layer, compression) for layer in layers]))
    return ref


class Canned(BaseHTTPRequestHandler):
    """A hand-written server's handler (for answers no real server gives): whole responses, HEAD as GET, no log."""

    def answer(
        self, status: int, body: bytes = b"", headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()
    ) -> None:
        """Send ``status``, ``headers`` (a Content-Length for ``body`` unless they have one) and the body."""
        pairs = list(headers.items()) if isinstance(headers, Mapping) else list(headers)
        self.send_response(status)
        for name, value in pairs:
            self.send_header(name, value)
        if not any(name.lower() == "content-length" for name, _ in pairs):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        raise NotImplementedError

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    """The client hangs up on purpose (size limits); that is not worth a traceback."""

    def handle_error(self, request: object, client_address: object) -> None:
        pass


@contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """``host:port`` of a loopback server running ``handler`` (for answers no real server gives)."""
    server = QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def octal(value: int) -> bytes:
    """A 12-byte tar number field."""
    return b"%011o\0" % value


def old_gnu_sparse(regions: list[tuple[int, int]], realsize: int) -> bytes:
    """An old GNU sparse member (type S): 4 regions in the header, 21 in each extension block, then a file."""
    data = b"".join(bytes([65 + i % 26]) * length for i, (_, length) in enumerate(regions))
    info = tarfile.TarInfo("sparse")
    info.type, info.size = tarfile.GNUTYPE_SPARSE, len(data)
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    fields = [octal(offset) + octal(length) for offset, length in regions]
    header[386:482] = b"".join(fields[:4]).ljust(96, b"\0")
    header[482:495] = bytes([len(fields) > 4]) + octal(realsize)
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    chunks = [fields[i : i + 21] for i in range(4, len(fields), 21)]
    extensions = [
        b"".join(c).ljust(504, b"\0") + bytes([i + 1 < len(chunks)]).ljust(8, b"\0") for i, c in enumerate(chunks)
    ]
    body = data.ljust(-(-len(data) // 512) * 512, b"\0")
    return bytes(header) + b"".join(extensions) + body + crafted(Member("after", data=b"a"))


def pax_sparse(text: bytes, data: bytes = b"", realsize: int = 900) -> bytes:
    """A pax 1.0 sparse member: its map is ``text``, at the start of its data."""
    info = tarfile.TarInfo("sparse.data")
    info.pax_headers = {
        "GNU.sparse.major": "1",
        "GNU.sparse.minor": "0",
        "GNU.sparse.name": "real",
        "GNU.sparse.realsize": str(realsize),
    }
    body = text.ljust(-(-len(text) // 512) * 512, b"\0") + data
    info.size = len(body)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        tar.addfile(info, io.BytesIO(body))
        tar.addfile(tarfile.TarInfo("after"))
    return buffer.getvalue()


def flip_byte(path: Path, offset: int) -> None:
    """Invert one byte of ``path`` in place (same size, other content: only a digest can tell)."""
    with open(path, "r+b") as handle:
        handle.seek(offset)
        byte = handle.read(1)[0]
        handle.seek(offset)
        handle.write(bytes([byte ^ 0xFF]))
