"""Small helpers shared by the tests."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
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


def cli(*args: str, cwd: Path, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m regkit ARGS`` (with ``env`` added to this process's environment)."""
    return subprocess.run(
        [sys.executable, "-m", "regkit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env={**os.environ, **(env or {})},
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
