"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NamedTuple

import regkit
from regkit.lab import imagebuild as ib
from regkit.lab.images import SampleImage
from regkit.lab.upload import push_image


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


def cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m regkit ARGS`` of this checkout."""
    return subprocess.run(
        [sys.executable, "-m", "regkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=checkout_env(),
    )


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
