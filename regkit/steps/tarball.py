"""Step 5, ``assemble``: write the image as a ``docker load`` tar or an OCI image layout.

The docker format is what Docker 25+ ``docker save`` writes: an OCI layout (``oci-layout``,
``index.json``, ``blobs/sha256/…``) plus ``manifest.json`` and ``repositories`` in the same tar,
so both old engines (which read ``manifest.json``) and OCI tools can use it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
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
from ..storage.fileio import write_all_at
from ..storage.layerformat import LAYER_FORMATS, convert_layer, target_compression
from ..storage.output import make_work_dir, work_name
from ..storage.places import FilePlace, Place, TarPlace
from ..storage.store import BlobStore
from .manifest_fetch import ManifestResult

FORMATS = ("docker", "oci")
Finished = Callable[[Path], None]  # told the finished output's temporary path, before it is renamed
OCI_LAYOUT = b'{"imageLayoutVersion":"1.0.0"}'


@dataclass(frozen=True)
class AssembledImage(HtmlRepr):
    """The written image: where, in which format, and the digests that identify it.

    Attributes
    ----------
    path : Path
        The tar or OCI layout written.
    format : str
        ``"docker"`` or ``"oci"``.
    manifest_digest, config_digest : Digest
        The image manifest's digest and its config's (the image ID).
    layers : tuple of Descriptor
        The layers as written (converted ones with their new digest and media type).
    repo_tags : tuple of str
        The tags ``docker load`` gives the image.
    converted : tuple of int
        The indexes of the layers converted to another compression.
    """

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
    def reserve(self, name: str, size: int) -> Place: ...


class _TarSink:
    """Writes tar members into a file descriptor at tracked offsets; blob data is copied by the kernel.

    ``reserve`` writes a member's header and leaves room for its data, which concurrent downloads
    fill later at their offsets; padding stays a hole, read as the zeros tar wants.
    """

    def __init__(self, fd: int, path: Path) -> None:
        self.fd = fd
        self.path = path
        self.offset = 0
        self.dirs: set[str] = set()

    def _write(self, data: bytes) -> None:
        write_all_at(self.fd, data, self.offset)
        self.offset += len(data)

    def reserve(self, name: str, size: int) -> TarPlace:
        """The header now; the data's place for later."""
        self._write(member_header(name, size, self.dirs))
        place = TarPlace(self.fd, self.offset, size, self.path)
        self.offset += size + padding(size)
        return place

    def add_bytes(self, name: str, data: bytes) -> None:
        self._write(member_header(name, len(data), self.dirs))
        self._write(data)
        self.offset += padding(len(data))

    def add_file(self, name: str, path: Path) -> None:
        self.reserve(name, path.stat().st_size).fill_from((path, 0))

    def finish(self) -> None:
        """The end-of-archive marker: two zero blocks (which also give the file its whole size)."""
        self._write(bytes(END_OF_ARCHIVE))


def member_header(name: str, size: int, dirs: set[str], kind: bytes = tarfile.REGTYPE) -> bytes:
    """The tar header(s) of a member, preceded by those of parent directories not yet in ``dirs`` (updated).

    Ownership and times are fixed, so equal images give byte-identical tars.
    """
    parent = name.rpartition("/")[0]
    parents = b""
    if parent and parent not in dirs:
        dirs.add(parent)
        parents = member_header(parent, 0, dirs, tarfile.DIRTYPE)
    info = tarfile.TarInfo(name)
    info.size, info.type, info.mtime = size, kind, 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return parents + info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def padding(size: int) -> int:
    """Zero bytes after a member's data, up to the next tar block."""
    return -size % tarfile.BLOCKSIZE


END_OF_ARCHIVE = 2 * tarfile.BLOCKSIZE


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

    def reserve(self, name: str, size: int) -> FilePlace:
        """The data's place for later (its folder exists)."""
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        return FilePlace(target, size)


def blob_name(digest: Digest) -> str:
    """The path of a blob inside an OCI layout."""
    return f"blobs/{digest.algorithm}/{digest.hex}"


def _rewritten_manifest(image: ImageManifest, layers: list[Descriptor]) -> bytes:
    """The manifest with converted layer descriptors (other fields and annotations kept)."""
    doc = jsonsafe.loads(image.raw)
    for entry, layer in zip(doc["layers"], layers, strict=False):
        entry.update(mediaType=layer.media_type, digest=str(layer.digest), size=layer.size)
    return json.dumps(doc, indent=2).encode()


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

    Parameters
    ----------
    manifest : ImageManifest or ManifestResult
        The image to write.
    blobs : BlobStore or str or os.PathLike
        The store (or its directory) holding the config and every layer.
    output : str or os.PathLike
        The tar or OCI layout to write; complete or not there at all.
    reference : Reference or str, optional
        For the tags, when ``manifest`` is a bare manifest.
    format : {"docker", "oci"}, default "docker"
        What ``docker save`` writes (an OCI layout plus ``manifest.json``), or a plain OCI layout.
    layer_format : {"auto", "gzip", "tar", "keep"}, default "auto"
        Which layers to convert: ``auto`` turns zstd into tar for the docker format.
    tags : list of str, optional
        The tags to write instead of the reference's.
    budgets : Budgets, optional
        Bounds what converted layers may cost when decompressed.

    Returns
    -------
    AssembledImage
        The path written, its format, the manifest and config digests, the layers and the tags.

    Raises
    ------
    NotFound
        A blob the manifest names is not in ``blobs``.
    VerificationError
        A stored blob no longer matches its digest, or a converted layer its ``diff_id``; a budget is exceeded.
    OutputError
        ``output`` cannot be written.
    UsageError
        An unknown ``format`` or ``layer_format``, or an invalid reference.
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
        target = _target(layer, format, layer_format)
        if target is None:
            layers.append(layer)
        else:
            layers.append(convert_layer(store, layer, diff_id, target, oci=oci, index=i, meter=meter))
            converted.append(i)
    manifest_raw = _rewritten_manifest(image, layers) if converted else image.raw
    members = layout_members(image, ref, manifest_raw, layers, default_tags(ref, tags), format)
    with open_output(output, format) as sink:
        for member in members:
            if member.data is not None:
                sink.add_bytes(member.name, member.data)
            else:
                sink.add_file(member.name, store.path(member.digest))  # type: ignore[arg-type]
    return assembled(image, ref, output, format, manifest_raw, layers, tags, converted)


def _target(layer: Descriptor, format: str, layer_format: str) -> str | None:
    return target_compression(layer_format, mt.layer_compression(layer.media_type), docker_format=format == "docker")


def needs_conversion(manifest: ManifestResult, format: str, layer_format: str) -> bool:
    """True when a layer must be re-compressed for this output (then blobs are stored first, see :func:`assemble`)."""
    return any(_target(layer, format, layer_format) is not None for layer in manifest.manifest.layers)


@contextmanager
def placed_output(
    manifest: ManifestResult, output: str | os.PathLike[str], format: str, complete: Finished | None = None
) -> Iterator[dict[Digest, Place]]:
    """The output, written once: small members now, and each blob's place for the caller to fill.

    In a tar every member's offset follows from the manifest's sizes, so blobs can be written
    concurrently at their offsets. When the block ends, the config is checked against the
    layers, ``complete`` is called with the finished output (still under its temporary name) and
    the output is renamed into place; on any failure the temporary output is removed.
    The output is not fsynced (as ``docker save`` and ``skopeo`` do not): after a power loss it may
    be missing or incomplete, never visible as complete to another process while being written.
    """
    image = manifest.manifest
    check_config_size(image.config)
    members = _pulled_members(manifest, format)
    with open_output(output, format, complete) as sink:
        places: dict[Digest, Place] = {}
        for member in members:
            if member.data is not None:
                sink.add_bytes(member.name, member.data)
            else:
                places[member.digest] = sink.reserve(member.name, member.size)  # type: ignore[index]
        yield places
        config_diff_ids(parse_config(places[image.config.digest].read(), image.config), len(image.layers))


def output_key(manifest: ManifestResult, format: str) -> str:
    """A digest (hex) of everything an output written by :func:`placed_output` holds: equal keys, equal bytes."""
    key = hashlib.sha256(f"regkit output 1 {format}\n".encode())
    for member in _pulled_members(manifest, format):
        content = str(member.digest) if member.data is None else hashlib.sha256(member.data).hexdigest()
        key.update(f"{member.name}\0{member.size}\0{content}\n".encode())
    return key.hexdigest()


def _pulled_members(manifest: ManifestResult, format: str) -> list[Member]:
    """The members of a pulled image's output, with the reference's tag."""
    image = manifest.manifest
    tags = default_tags(manifest.reference, None)
    return layout_members(image, manifest.reference, image.raw, list(image.layers), tags, format)


def is_tar(output: str | os.PathLike[str], format: str) -> bool:
    """Whether ``output`` is written as a tar (docker format, or a path ending in ``.tar``), not a directory."""
    return format == "docker" or Path(output).suffix == ".tar"


def default_tags(ref: Reference | None, tags: list[str] | None) -> list[str]:
    """The given tags, else the reference's ``repo:tag`` (none for a pull by digest or without a reference)."""
    return list(tags) if tags is not None else [t for t in [ref.repo_tag if ref else None] if t]


def assembled(
    image: ImageManifest,
    ref: Reference | None,
    output: str | os.PathLike[str],
    format: str,
    manifest_raw: bytes,
    layers: list[Descriptor],
    tags: list[str] | None,
    converted: list[int],
) -> AssembledImage:
    """The result describing a written image."""
    return AssembledImage(
        Path(output),
        format,
        Digest.of(manifest_raw) if converted else image.digest,
        image.config.digest,
        tuple(layers),
        tuple(default_tags(ref, tags)),
        tuple(converted),
    )


@dataclass(frozen=True)
class Member:
    """One entry of the output, in order: a blob named by ``digest`` (``data`` None) or small bytes."""

    name: str
    size: int
    digest: Digest | None = None
    data: bytes | None = None


def layout_members(
    image: ImageManifest,
    ref: Reference | None,
    manifest_raw: bytes,
    layers: list[Descriptor],
    tags: list[str],
    format: str,
) -> list[Member]:
    """Blobs, ``oci-layout`` and ``index.json``; for docker also ``manifest.json`` and ``repositories``."""
    config = image.config
    manifest_digest = Digest.of(manifest_raw, image.digest.algorithm)
    members: list[Member] = []
    seen: set[Digest] = set()
    for blob in (config, *layers):
        if blob.digest not in seen:  # an image may use the same layer twice; store it once
            members.append(Member(blob_name(blob.digest), blob.size, blob.digest))
            seen.add(blob.digest)
    if manifest_digest not in seen:
        members.append(Member(blob_name(manifest_digest), len(manifest_raw), manifest_digest, manifest_raw))

    def small(name: str, data: bytes) -> None:
        members.append(Member(name, len(data), data=data))

    small("oci-layout", OCI_LAYOUT)
    entry: dict[str, Any] = {
        "mediaType": image.media_type,
        "digest": str(manifest_digest),
        "size": len(manifest_raw),
    }
    if ref is not None and ref.tag:
        entry["annotations"] = {
            "io.containerd.image.name": f"{ref.canonical_name}:{ref.tag}",
            "org.opencontainers.image.ref.name": ref.tag,
        }
    index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [entry]}
    small("index.json", json.dumps(index, indent=2).encode())
    if format != "docker":
        return members
    docker_manifest = [
        {"Config": blob_name(config.digest), "RepoTags": tags, "Layers": [blob_name(layer.digest) for layer in layers]}
    ]
    small("manifest.json", json.dumps(docker_manifest).encode())
    repositories: dict[str, dict[str, str]] = {}
    for tag in tags:
        name, _, version = tag.rpartition(":")
        repositories.setdefault(name, {})[version] = layers[-1].digest.hex if layers else ""
    small("repositories", json.dumps(repositories).encode())
    return members


def open_output(
    output: str | os.PathLike[str], format: str, complete: Finished | None = None
) -> AbstractContextManager[_Sink]:
    """The output's sink: a tar (docker format, or a path ending in ``.tar``) or an OCI layout directory."""
    path = Path(output)
    return _write_tar(path, complete) if is_tar(path, format) else _write_dir(path, complete)


@contextmanager
def _replaced_when_complete(
    tmp: Path, path: Path, remove: Callable[[Path], object], complete: Finished | None
) -> Iterator[None]:
    """Rename ``tmp`` to ``path`` after the block (and ``complete``); on any failure (Ctrl-C too) remove ``tmp``."""
    try:
        yield
        if complete is not None:
            complete(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        remove(tmp)
        raise OutputError(f"writing {path} failed: {exc.strerror or exc}") from None
    except BaseException:
        remove(tmp)
        raise


@contextmanager
def _write_tar(path: Path, complete: Finished | None) -> Iterator[_Sink]:
    """A tar written under a temporary name and renamed into place only when complete."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = work_name(path.parent)  # a pull killed outright leaves it; the next one removes it
        # Not mkstemp: its 0600 mode would stick to the output; O_EXCL gives the same safety.
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o666)  # read too: the config is checked from it
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    with _replaced_when_complete(tmp, path, lambda p: p.unlink(missing_ok=True), complete):
        try:
            sink = _TarSink(fd, path)
            yield sink
            sink.finish()
        finally:
            os.close(fd)


@contextmanager
def _write_dir(path: Path, complete: Finished | None) -> Iterator[_Sink]:
    """An OCI layout directory built beside the target and renamed into place when complete."""
    if path.exists():
        raise OutputError(f"{path} already exists; remove it or choose another output")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = make_work_dir(path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    with _replaced_when_complete(tmp, path, lambda p: shutil.rmtree(p, ignore_errors=True), complete):
        yield _DirSink(tmp)
