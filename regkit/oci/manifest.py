"""Manifests, indexes and descriptors: strict parsing and platform selection (pure, no I/O).

Everything here comes from a registry and is treated as hostile: digests are validated before
they can name a file, sizes must be sane integers, and unknown shapes are refused with a message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import PLATFORM, Hint, InvalidReference, ManifestError, NoMatchingPlatform
from . import jsonsafe
from . import mediatypes as mt
from .digest import Digest
from .platform import Platform

MAX_BLOB_SIZE = 1 << 40  # 1 TiB: larger "sizes" are hostile or corrupt, not layers
MAX_CONFIG_SIZE = 16 << 20  # image configs are kilobytes; this leaves room for long histories
ATTESTATION_REFERENCE_TYPE = "attestation-manifest"


@dataclass(frozen=True)
class Descriptor:
    """A pointer to content: media type, digest, size, and for index entries a platform.

    Parameters
    ----------
    media_type : str
        What the content is (``application/vnd.oci.image.layer.v1.tar+gzip``, …).
    digest : Digest
        The content's digest, checked when it is fetched.
    size : int
        The content's length in bytes, checked too.
    platform : Platform, optional
        For an index entry: the platform of the image it points to.
    annotations : dict of str to str, optional
        The descriptor's annotations.
    """

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_attestation(self) -> bool:
        """True for a build attestation entry (buildkit stores them as ``unknown/unknown``)."""
        if self.annotations.get("vnd.docker.reference.type") == ATTESTATION_REFERENCE_TYPE:
            return True
        return self.platform is not None and self.platform.os == "unknown" and self.platform.architecture == "unknown"

    def to_json(self) -> dict[str, Any]:
        """The descriptor as the OCI JSON object.

        Returns
        -------
        dict
            ``mediaType``, ``digest`` and ``size``; ``platform`` and ``annotations`` when it has them.
        """
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": str(self.digest), "size": self.size}
        if self.platform:
            out["platform"] = {"os": self.platform.os, "architecture": self.platform.architecture}
            if self.platform.variant:
                out["platform"]["variant"] = self.platform.variant
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class ImageManifest:
    """A single-platform image manifest (Docker schema2 or OCI).

    Attributes
    ----------
    media_type : str
        The manifest's media type.
    config : Descriptor
        The image config blob.
    layers : tuple of Descriptor
        The layers, bottom first.
    raw : bytes
        The manifest's bytes as the registry sent them (its digest is of these).
    digest : Digest
        The digest of ``raw``.
    """

    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    raw: bytes = field(repr=False)
    digest: Digest

    @property
    def total_size(self) -> int:
        """Compressed size of config and layers, as stored in the registry."""
        return self.config.size + sum(layer.size for layer in self.layers)


@dataclass(frozen=True)
class Index:
    """A multi-platform index (OCI image index or Docker manifest list).

    Attributes
    ----------
    media_type : str
        The index's media type.
    manifests : tuple of Descriptor
        One entry per image (and attestations), each with its platform.
    raw : bytes
        The index's bytes as the registry sent them.
    digest : Digest
        The digest of ``raw``.
    """

    media_type: str
    manifests: tuple[Descriptor, ...]
    raw: bytes = field(repr=False)
    digest: Digest

    @property
    def platforms(self) -> list[Platform]:
        """The platforms of the runnable images, attestations left out."""
        return [d.platform for d in self.images if d.platform]

    @property
    def images(self) -> list[Descriptor]:
        """Entries that are images, not attestations."""
        return [d for d in self.manifests if not d.is_attestation]

    def select(self, wanted: Platform) -> Descriptor:
        """The entry to pull for ``wanted``: a compatible platform, exact variant first, like containerd.

        Parameters
        ----------
        wanted : Platform
            The platform of the host that will run the image.

        Returns
        -------
        Descriptor
            The image entry (never an attestation) whose platform ``wanted`` runs best.

        Raises
        ------
        NoMatchingPlatform
            No image in the index runs on ``wanted``; ``error.available`` lists the platforms it has, and the
            hint names the ``platform=`` option to choose one.
        """
        candidates = [d for d in self.images if d.platform and wanted.runs(d.platform)]
        if not candidates:
            available = ", ".join(str(p) for p in self.platforms) or "none"
            raise NoMatchingPlatform(
                f"no image for platform {wanted} in this index (available: {available})",
                available=self.platforms,
                hint=Hint("choose one with ", PLATFORM),
            )
        return min(candidates, key=lambda d: wanted.preference(d.platform))  # type: ignore[arg-type]


def _bad(what: str) -> ManifestError:
    return ManifestError(f"malformed manifest: {what}")


def _descriptor(obj: Any, where: str, *, with_platform: bool = False) -> Descriptor:
    if not isinstance(obj, dict):
        raise _bad(f"{where} is not an object")
    media_type = obj.get("mediaType")
    size = obj.get("size")
    if not isinstance(media_type, str) or not media_type:
        raise _bad(f"{where} has no mediaType")
    # bool is an int in Python; a JSON true is not a size.
    if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BLOB_SIZE:
        raise _bad(f"{where} has an invalid size {size!r}")
    try:
        digest = Digest.parse(obj.get("digest"))
    except InvalidReference as exc:
        raise _bad(f"{where}: {exc.message}") from None
    annotations = obj.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise _bad(f"{where} has annotations that are not an object")
    platform = None
    if with_platform and isinstance(obj.get("platform"), dict):
        p = obj["platform"]
        if not isinstance(p.get("os"), str) or not isinstance(p.get("architecture"), str):
            raise _bad(f"{where} has a platform without os/architecture")
        platform = Platform.of(p["os"], p["architecture"], str(p.get("variant") or ""))
    return Descriptor(
        media_type,
        digest,
        size,
        platform,
        {str(k): str(v) for k, v in annotations.items()},
    )


def parse_manifest(raw: bytes, content_type: str | None, digest: Digest) -> ImageManifest | Index:
    """Parse manifest bytes; the media type is the body's own, checked against the Content-Type."""
    try:
        doc = jsonsafe.loads(raw)
    except jsonsafe.JsonError as exc:
        start = raw[:60].decode("utf-8", "replace")
        raise ManifestError(f"the manifest is not JSON regkit can read ({exc}); it starts with {start!r}") from None
    if not isinstance(doc, dict):
        raise _bad("the top level is not an object")
    if doc.get("schemaVersion") != 2:
        raise ManifestError(
            f"manifest schemaVersion {doc.get('schemaVersion')!r} is not supported (only schema 2 and OCI)",
            hint="schema 1 manifests are deprecated; the registry ignored our Accept header",
        )
    media_type = doc.get("mediaType") or _guess_media_type(doc)
    ctype = (content_type or "").split(";")[0].strip()
    if ctype and ctype in mt.ACCEPT_MANIFESTS and ctype != media_type:
        raise ManifestError(f"the response says Content-Type {ctype} but the body is a {media_type}")
    if media_type in mt.INDEXES:
        entries = doc.get("manifests")
        if not isinstance(entries, list):
            raise _bad("an index without a 'manifests' list")
        descs = tuple(_descriptor(e, f"manifests[{i}]", with_platform=True) for i, e in enumerate(entries))
        return Index(media_type, descs, raw, digest)
    if media_type in mt.IMAGE_MANIFESTS:
        layers = doc.get("layers")
        if not isinstance(layers, list):
            raise _bad("an image manifest without a 'layers' list")
        return ImageManifest(
            media_type,
            _descriptor(doc.get("config"), "config"),
            tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)),
            raw,
            digest,
        )
    raise ManifestError(
        f"unsupported manifest media type {media_type!r}",
        hint="regkit pulls Docker schema2 and OCI images; artifacts and schema 1 are not images",
    )


def _guess_media_type(doc: dict[str, Any]) -> str:
    """OCI allows omitting mediaType; the shape tells index from manifest."""
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    raise _bad("no mediaType and neither 'manifests' nor 'config'")


def check_config_size(config: Descriptor) -> None:
    """Refuse a config descriptor too large to be one, before anything is read."""
    if config.size > MAX_CONFIG_SIZE:
        raise ManifestError(f"the image config is {config.size} bytes; more than {MAX_CONFIG_SIZE} is refused")


def parse_config(raw: bytes, config: Descriptor) -> dict[str, Any]:
    """The image config JSON object (its bytes already verified against ``config``)."""
    return json_object(raw, f"the image config {config.digest}")


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """The JSON object ``raw`` holds, else a :class:`ManifestError` saying ``what`` it should have been."""
    try:
        doc = jsonsafe.loads(raw)
    except jsonsafe.JsonError as exc:
        raise ManifestError(f"{what} is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{what} is not a JSON object")
    return doc


def config_diff_ids(config: dict[str, Any], layer_count: int) -> list[Digest]:
    """The config's ``rootfs.diff_ids``, one per layer, validated."""
    rootfs = config.get("rootfs")
    raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(raw, list) or len(raw) != layer_count:
        found = len(raw) if isinstance(raw, list) else "no"
        raise ManifestError(f"the config lists {found} diff_ids for {layer_count} layers; the image is inconsistent")
    try:
        return [Digest.parse(d) for d in raw]
    except InvalidReference as exc:
        raise ManifestError(f"the config's rootfs.diff_ids: {exc.message}") from None


# The descriptor parser, for other documents that hold descriptors (referrers indexes, artifact manifests).
parse_descriptor = _descriptor
