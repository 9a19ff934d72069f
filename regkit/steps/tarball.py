"""Step 5, ``assemble``: write the image as a ``docker load`` tar or an OCI image layout.

The docker format is what Docker 25+ ``docker save`` writes: an OCI layout (``oci-layout``,
``index.json``, ``blobs/sha256/…``) plus ``manifest.json`` and ``repositories`` in the same tar,
so both old engines (which read ``manifest.json``) and OCI tools can use it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tarfile
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .._repr import HtmlRepr
from ..errors import InvalidOption, OutputError
from ..oci import jsonsafe
from ..oci import mediatypes as mt
from ..oci.budgets import Budgets, Meter
from ..oci.digest import Digest
from ..oci.manifest import Descriptor, ImageManifest, check_config_size, config_diff_ids, parse_config
from ..oci.reference import Reference, resolve
from .fileio import copy_range, write_all
from .layerformat import LAYER_FORMATS, convert_layer, target_compression
from .manifest_fetch import ManifestResult
from .store import BlobStore

FORMATS = ("docker", "oci")
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class AssembledImage(HtmlRepr):
    """The written image: where, in which format, and the digests that identify it."""

    path: Path
    format: str
    manifest_digest: Digest
    config_digest: Digest
    layers: tuple[Descriptor, ...]
    repo_tags: tuple[str, ...]
    converted: tuple[int, ...]

    @property
    def image_id(self) -> str:
        """The ID ``docker load`` gives the image: the config digest."""
        return str(self.config_digest)


class _Sink(Protocol):
    def add_bytes(self, name: str, data: bytes) -> None: ...
    def add_file(self, name: str, path: Path) -> None: ...


class _TarSink:
    """Writes tar members straight to a file descriptor; blob data is copied by the kernel.

    Ownership and times are fixed, so equal images give byte-identical tars.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.dirs: set[str] = set()

    def _write(self, data: bytes) -> None:
        write_all(self.fd, data)

    def _header(self, name: str, size: int, kind: bytes = tarfile.REGTYPE) -> None:
        parent = name.rpartition("/")[0]
        if parent and parent not in self.dirs:
            self.dirs.add(parent)
            self._header(parent, 0, tarfile.DIRTYPE)
        info = tarfile.TarInfo(name)
        info.size, info.type, info.mtime = size, kind, 0
        info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def _pad(self, size: int) -> None:
        self._write(bytes(-size % tarfile.BLOCKSIZE))

    def add_bytes(self, name: str, data: bytes) -> None:
        self._header(name, len(data))
        self._write(data)
        self._pad(len(data))

    def add_file(self, name: str, path: Path) -> None:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            self._header(name, size)
            copy_range(handle.fileno(), self.fd, size)
        self._pad(size)

    def finish(self) -> None:
        """The end-of-archive marker: two zero blocks."""
        self._write(bytes(2 * tarfile.BLOCKSIZE))


class _DirSink:
    """Writes members as files below a directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add_bytes(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def add_file(self, name: str, path: Path) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)


def blob_name(digest: Digest) -> str:
    """The path of a blob inside an OCI layout."""
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _rewritten_manifest(image: ImageManifest, layers: list[Descriptor]) -> tuple[bytes, Digest]:
    """The manifest with converted layer descriptors (other fields and annotations kept)."""
    doc = jsonsafe.loads(image.raw)
    for entry, layer in zip(doc["layers"], layers, strict=False):
        entry.update(mediaType=layer.media_type, digest=str(layer.digest), size=layer.size)
    raw = json.dumps(doc, indent=2).encode()
    return raw, Digest.of(raw)


def check_output_options(format: str, layer_format: str) -> None:
    """Refuse an unknown output or layer format before any work is done."""
    if format not in FORMATS:
        raise InvalidOption(f"output format {format!r} is unknown; use docker or oci")
    if layer_format not in LAYER_FORMATS:
        raise InvalidOption(f"layer format {layer_format!r} is unknown; use one of {', '.join(LAYER_FORMATS)}")


def assemble(
    manifest: ImageManifest | ManifestResult,
    blobs: BlobStore | str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    reference: Reference | str | None = None,
    format: str = "docker",
    layer_format: str = "auto",
    tags: list[str] | None = None,
    budgets: Budgets | None = None,
) -> AssembledImage:
    """Write an image whose blobs are in ``blobs`` to ``output``: a ``docker load`` tar, or an OCI layout.

    Needs no network: the image manifest (or :func:`get_manifest`'s result), the blob store or its
    directory (config and layers, verified as they were stored) and, for the tags, the ``reference``
    (a manifest result carries its own). An OCI layout is a tar if ``output`` ends in ``.tar``.
    Layers converted to another compression are decompressed within ``budgets``.
    """
    check_output_options(format, layer_format)
    given = resolve(reference) if isinstance(reference, str) else reference
    ref: Reference | None
    if isinstance(manifest, ManifestResult):
        image, ref = manifest.manifest, given or manifest.reference
    else:
        image, ref = manifest, given
    store = blobs if isinstance(blobs, BlobStore) else BlobStore(blobs)
    missing = [d.digest for d in (image.config, *image.layers) if not store.has(d.digest, d.size)]
    if missing:
        raise OutputError(f"{len(missing)} blob(s) are not in {store.root}, e.g. {missing[0]}; fetch them first")
    check_config_size(image.config)
    config = parse_config(store.path(image.config.digest).read_bytes(), image.config)
    diff_ids = config_diff_ids(config, len(image.layers))
    oci = mt.is_oci(image.media_type)
    layers: list[Descriptor] = []
    converted: list[int] = []
    meter = Meter(budgets)
    for i, (layer, diff_id) in enumerate(zip(image.layers, diff_ids, strict=False)):
        target = target_compression(
            layer_format, mt.layer_compression(layer.media_type), docker_format=format == "docker"
        )
        if target is None:
            layers.append(layer)
        else:
            layers.append(convert_layer(store, layer, diff_id, target, oci=oci, index=i, meter=meter))
            converted.append(i)
    if converted:
        manifest_raw, manifest_digest = _rewritten_manifest(image, layers)
    else:
        manifest_raw, manifest_digest = image.raw, image.digest
    store.write_bytes(manifest_digest, manifest_raw, "manifest")
    tags = list(tags) if tags is not None else [t for t in [ref.repo_tag if ref else None] if t]
    path = Path(output)
    as_tar = format == "docker" or path.suffix == ".tar"
    writer = _write_tar if as_tar else _write_dir
    with writer(path) as sink:
        _write_layout(sink, store, image, ref, manifest_digest, len(manifest_raw), layers, tags, format)
    return AssembledImage(
        path, format, manifest_digest, image.config.digest, tuple(layers), tuple(tags), tuple(converted)
    )


def _write_layout(
    sink: _Sink,
    store: BlobStore,
    image: ImageManifest,
    ref: Reference | None,
    manifest_digest: Digest,
    manifest_size: int,
    layers: list[Descriptor],
    tags: list[str],
    format: str,
) -> None:
    """Blobs, ``oci-layout`` and ``index.json``; for docker also ``manifest.json`` and ``repositories``."""
    config = image.config
    written: set[Digest] = set()
    for digest in (config.digest, *(layer.digest for layer in layers), manifest_digest):
        if digest not in written:  # an image may use the same layer twice; store it once
            sink.add_file(blob_name(digest), store.path(digest))
            written.add(digest)
    sink.add_bytes("oci-layout", OCI_LAYOUT)
    entry: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": str(manifest_digest),
        "size": manifest_size,
    }
    if ref is not None and ref.tag:
        entry["annotations"] = {
            "io.containerd.image.name": f"{ref.canonical_name}:{ref.tag}",
            "org.opencontainers.image.ref.name": ref.tag,
        }
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
    sink.add_bytes("index.json", json.dumps(index, indent=2).encode())
    if format != "docker":
        return
    docker_manifest = [
        {"Config": blob_name(config.digest), "RepoTags": tags, "Layers": [blob_name(layer.digest) for layer in layers]}
    ]
    sink.add_bytes("manifest.json", json.dumps(docker_manifest).encode())
    repositories: dict[str, dict[str, str]] = {}
    for tag in tags:
        name, _, version = tag.rpartition(":")
        repositories.setdefault(name, {})[version] = layers[-1].digest.hex if layers else ""
    sink.add_bytes("repositories", json.dumps(repositories).encode())


@contextmanager
def _replaced_when_complete(tmp: Path, path: Path, remove: Callable[[Path], object]) -> Iterator[None]:
    """Rename ``tmp`` to ``path`` after the block; on any failure (Ctrl-C too) remove ``tmp`` instead."""
    try:
        yield
        os.replace(tmp, path)
    except OSError as exc:
        remove(tmp)
        raise OutputError(f"writing {path} failed: {exc.strerror or exc}") from None
    except BaseException:
        remove(tmp)
        raise


@contextmanager
def _write_tar(path: Path) -> Iterator[_Sink]:
    """A tar written under a temporary name and renamed into place only when complete."""
    tmp = path.parent / f".{path.name}.{secrets.token_hex(6)}.partial"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not mkstemp: its 0600 mode would stick to the output; O_EXCL gives the same safety.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    with _replaced_when_complete(tmp, path, lambda p: p.unlink(missing_ok=True)):
        try:
            sink = _TarSink(fd)
            yield sink
            sink.finish()
        finally:
            os.close(fd)


@contextmanager
def _write_dir(path: Path) -> Iterator[_Sink]:
    """An OCI layout directory built beside the target and renamed into place when complete."""
    if path.exists():
        raise OutputError(f"{path} already exists; remove it or choose another output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent))
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    with _replaced_when_complete(tmp, path, lambda p: shutil.rmtree(p, ignore_errors=True)):
        yield _DirSink(tmp)
