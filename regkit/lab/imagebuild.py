"""Build small images in memory (layers, config, manifest, index) for tests, labs and lessons (pure)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from dataclasses import dataclass, field

import zstandard

from ..oci import mediatypes as mt
from ..oci.digest import Digest
from ..oci.manifest import Descriptor
from ..oci.platform import Platform


@dataclass(frozen=True)
class Entry:
    """One member of a layer tar: a file (``data``), directory, symlink (``link``) or whiteout."""

    path: str
    data: bytes = b""
    kind: str = "file"  # file, dir, symlink
    link: str = ""
    mode: int = 0o644


def file(path: str, data: bytes, mode: int = 0o644) -> Entry:
    """A regular file."""
    return Entry(path, data, "file", mode=mode)


def symlink(path: str, target: str) -> Entry:
    """A symbolic link."""
    return Entry(path, kind="symlink", link=target, mode=0o777)


def directory(path: str) -> Entry:
    """A directory."""
    return Entry(path, kind="dir", mode=0o755)


def whiteout(path: str) -> Entry:
    """An OCI whiteout that deletes ``path`` from lower layers."""
    parent, _, name = path.rpartition("/")
    return file(f"{parent}/.wh.{name}" if parent else f".wh.{name}", b"")


def tar_layer(entries: list[Entry]) -> bytes:
    """An uncompressed layer tar with fixed owner and time, so equal entries give equal digests."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.path)
            info.mode, info.mtime = entry.mode, 0
            if entry.kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif entry.kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, entry.link
                tar.addfile(info)
            else:
                info.size = len(entry.data)
                tar.addfile(info, io.BytesIO(entry.data))
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    """``data`` as a gzip, zstd or plain (tar) blob."""
    if compression == mt.GZIP:
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == mt.ZSTD:
        return zstandard.ZstdCompressor(level=3).compress(data)
    return data


@dataclass
class BuiltImage:
    """An image's blobs and manifest, ready to push or to serve."""

    manifest: bytes
    media_type: str
    config: bytes
    blobs: dict[Digest, bytes] = field(default_factory=dict)
    children: list[BuiltImage] = field(default_factory=list)  # manifests an index points to

    @property
    def digest(self) -> Digest:
        """The manifest digest."""
        return Digest.of(self.manifest)

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """A descriptor of this manifest, for an index entry."""
        return Descriptor(self.media_type, self.digest, len(self.manifest), platform)


def build_image(
    layers: list[tuple[bytes, str]],
    *,
    platform: Platform | None = None,
    oci: bool = True,
    cmd: list[str] | None = None,
    empty_history: list[int] | None = None,
    created: str | None = None,
) -> BuiltImage:
    """An image from ``(tar bytes, compression)`` layers; ``empty_history`` adds empty-layer history entries.

    ``created`` (RFC 3339) goes into the config, as a build's date does; without it the config has none.
    """
    platform = platform or Platform.host()
    blobs: dict[Digest, bytes] = {}
    descriptors = []
    history = []
    for i, (tar, compression) in enumerate(layers):
        if i in (empty_history or []):
            history.append({"created": "1970-01-01T00:00:00Z", "created_by": f"ENV STEP={i}", "empty_layer": True})
        blob = compress(tar, compression)
        digest = Digest.of(blob)
        blobs[digest] = blob
        descriptors.append(
            {"mediaType": mt.layer_media_type(compression, oci=oci), "digest": str(digest), "size": len(blob)}
        )
        history.append({"created": "1970-01-01T00:00:00Z", "created_by": f"ADD layer{i} /"})
    config_doc = {
        "architecture": platform.architecture,
        "os": platform.os,
        "config": {"Cmd": cmd or ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(tar)) for tar, _ in layers]},
        "history": history,
    }
    if platform.variant:
        config_doc["variant"] = platform.variant
    if created is not None:
        config_doc["created"] = created
    config = json.dumps(config_doc, sort_keys=True).encode()
    blobs[Digest.of(config)] = config
    media_type = mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    manifest = {
        "schemaVersion": 2,
        "mediaType": media_type,
        "config": {
            "mediaType": mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG,
            "digest": str(Digest.of(config)),
            "size": len(config),
        },
        "layers": descriptors,
    }
    return BuiltImage(json.dumps(manifest, indent=2).encode(), media_type, config, blobs)


def build_index(entries: list[tuple[BuiltImage, Platform]], *, oci: bool = True, attest: bool = False) -> BuiltImage:
    """An index over images; ``attest`` adds a buildkit-style attestation entry for the first one."""
    manifests = [image.descriptor(platform).to_json() for image, platform in entries]
    children = [image for image, _ in entries]
    if attest and entries:
        unknown = Platform("unknown", "unknown")
        attestation = build_image([], platform=unknown, oci=True)
        entry = attestation.descriptor(unknown).to_json()
        entry["annotations"] = {
            "vnd.docker.reference.digest": str(entries[0][0].digest),
            "vnd.docker.reference.type": "attestation-manifest",
        }
        manifests.append(entry)
        children.append(attestation)
    media_type = mt.OCI_INDEX if oci else mt.DOCKER_MANIFEST_LIST
    raw = json.dumps({"schemaVersion": 2, "mediaType": media_type, "manifests": manifests}, indent=2).encode()
    return BuiltImage(raw, media_type, b"", {}, children)
