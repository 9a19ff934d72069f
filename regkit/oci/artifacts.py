"""What is attached to an image: referrers indexes, artifact manifests, and summaries of their payloads (pure).

- OCI 1.1 referrers: ``GET /v2/<name>/referrers/<digest>`` answers an image index whose entries carry an
  ``artifactType``; a registry without the API (404) may keep the same index under the fallback tag
  ``sha256-<hex>``. An artifact manifest names the image it belongs to in ``subject``.
- Buildkit keeps attestations inside the image's index: an entry with platform ``unknown/unknown`` and the
  annotations ``vnd.docker.reference.type: attestation-manifest`` and ``vnd.docker.reference.digest``; its
  layers are in-toto statements (``in-toto.io/predicate-type`` says which).
- Cosign keeps a signature under the tag ``sha256-<hex>.sig`` (``.att`` attestations, ``.sbom`` SBOMs).

Summaries read SPDX and CycloneDX SBOMs (package count and names) and SLSA provenance v0.2 and v1 (builder,
build type, materials) from at most :data:`MAX_PAYLOAD` bytes: a larger payload is named, not parsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import InvalidReference, ManifestError
from . import jsonsafe
from .digest import Digest
from .manifest import Descriptor, json_object
from .manifest import parse_descriptor as _descriptor

MAX_PAYLOAD = 4 << 20  # bytes of one SBOM or statement read for its summary
MAX_NAMES_SHOWN = 20  # package names kept in a summary
IN_TOTO = "application/vnd.in-toto+json"
PREDICATE_TYPE = "in-toto.io/predicate-type"
REFERENCE_DIGEST = "vnd.docker.reference.digest"
COSIGN_SUFFIXES = (".sig", ".att", ".sbom")
_SLSA = "https://slsa.dev/provenance/"
_SPDX_PREDICATE = "https://spdx.dev/Document"
_CYCLONEDX_PREDICATE = "https://cyclonedx.org/bom"


def fallback_tag(digest: Digest) -> str:
    """The referrers fallback tag of ``digest``: ``sha256-<hex>``."""
    return f"{digest.algorithm}-{digest.hex}"


@dataclass(frozen=True)
class Referrer:
    """One entry of a referrers index: the artifact manifest's descriptor and its ``artifactType``."""

    descriptor: Descriptor
    artifact_type: str


@dataclass(frozen=True)
class Artifact:
    """An artifact (or attestation) manifest: its type, the image it refers to, and its layers."""

    artifact_type: str
    subject: Descriptor | None
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str] = field(default_factory=dict)


def parse_referrers(raw: bytes) -> list[Referrer]:
    """The entries of a referrers index (the API's answer or the fallback tag's index)."""
    doc = json_object(raw, "the referrers index")
    entries = doc.get("manifests")
    if not isinstance(entries, list):
        raise ManifestError("the referrers index has no 'manifests' list")
    found = []
    for i, entry in enumerate(entries):
        descriptor = _descriptor(entry, f"referrers manifests[{i}]", with_platform=True)
        kind = entry.get("artifactType") if isinstance(entry, dict) else None
        found.append(Referrer(descriptor, kind if isinstance(kind, str) else ""))
    return found


def parse_artifact(raw: bytes) -> Artifact:
    """``artifactType`` (else the config's media type), ``subject`` and layers of an image or artifact manifest."""
    doc = json_object(raw, "the artifact manifest")
    config = doc.get("config")
    layers = doc.get("layers") or doc.get("blobs") or []
    if not isinstance(layers, list):
        raise ManifestError("the artifact manifest's layers are not a list")
    subject = doc.get("subject")
    kind = doc.get("artifactType")
    if not isinstance(kind, str) or not kind:
        kind = config.get("mediaType") if isinstance(config, dict) else ""
    annotations = doc.get("annotations")
    return Artifact(
        str(kind or ""),
        _descriptor(subject, "subject") if subject is not None else None,
        tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)),
        {str(k): str(v) for k, v in annotations.items()} if isinstance(annotations, dict) else {},
    )


def referenced_digest(entry: Descriptor) -> Digest | None:
    """The image an attestation entry of an index belongs to (``vnd.docker.reference.digest``), if valid."""
    try:
        return Digest.parse(entry.annotations.get(REFERENCE_DIGEST, ""))
    except InvalidReference:
        return None


@dataclass(frozen=True)
class PayloadSummary:
    """What one payload is and holds: ``kind`` is ``spdx``, ``cyclonedx``, ``slsa-provenance`` or ``unknown``."""

    kind: str
    packages: int | None = None
    names: tuple[str, ...] = ()
    builder: str = ""
    build_type: str = ""
    materials: tuple[str, ...] = ()  # the first MAX_NAMES_SHOWN
    material_count: int = 0
    note: str = ""

    def line(self) -> str:
        """One line for tables and trees."""
        if self.kind in ("spdx", "cyclonedx"):
            label = "SPDX SBOM" if self.kind == "spdx" else "CycloneDX SBOM"
            shown = ", ".join(self.names[:5]) + (", …" if len(self.names) > 5 or (self.packages or 0) > 5 else "")
            count = f"{self.packages} package{'' if self.packages == 1 else 's'}"
            return f"{label}: {count} ({shown})" if self.packages else f"{label}: no packages"
        if self.kind == "slsa-provenance":
            return (
                f"SLSA provenance: builder {self.builder or '?'}, build type {self.build_type or '?'}, "
                f"{self.material_count} material{'' if self.material_count == 1 else 's'}"
            )
        return self.note or "unknown payload"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return {
            "kind": self.kind,
            "packages": self.packages,
            "names": list(self.names),
            "builder": self.builder,
            "build_type": self.build_type,
            "materials": list(self.materials),
            "material_count": self.material_count,
            "note": self.note,
        }


def summarize(payload: bytes, size: int, predicate_type: str = "") -> PayloadSummary:
    """The summary of a payload of ``size`` bytes, of which ``payload`` is what was read (at most MAX_PAYLOAD)."""
    if len(payload) < size:
        return PayloadSummary("unknown", note=f"{size} bytes: larger than the {MAX_PAYLOAD} bytes read to summarise")
    try:
        doc = jsonsafe.loads(payload)
    except jsonsafe.JsonError:
        return PayloadSummary("unknown", note=f"{size} bytes, not JSON")
    if not isinstance(doc, dict):
        return PayloadSummary("unknown", note="JSON, not an object")
    if isinstance(doc.get("predicate"), dict):  # an in-toto statement wrapping the document
        predicate_type = str(doc.get("predicateType") or predicate_type)
        doc = doc["predicate"]
    if predicate_type.startswith(_SLSA) or "builder" in doc or "runDetails" in doc:
        return _provenance(doc)
    if predicate_type.startswith(_SPDX_PREDICATE) or "spdxVersion" in doc:
        return _packages("spdx", doc.get("packages"), "versionInfo")
    if predicate_type.startswith(_CYCLONEDX_PREDICATE) or doc.get("bomFormat") == "CycloneDX":
        return _packages("cyclonedx", doc.get("components"), "version")
    return PayloadSummary("unknown", note=f"JSON ({predicate_type or 'no predicate type'})")


def _packages(kind: str, packages: object, version_key: str) -> PayloadSummary:
    listed = [p for p in packages if isinstance(p, dict)] if isinstance(packages, list) else []
    names = []
    for package in listed[:MAX_NAMES_SHOWN]:
        name, version = str(package.get("name") or "?")[:100], package.get(version_key)
        names.append(f"{name} {str(version)[:40]}" if version else name)
    return PayloadSummary(kind, packages=len(listed), names=tuple(names))


def _text(value: object) -> str:
    return str(value)[:200] if isinstance(value, (str, int, float)) else ""


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _provenance(doc: dict[str, Any]) -> PayloadSummary:
    """SLSA v0.2 (``builder``, ``buildType``, ``materials``) or v1 (``runDetails``, ``buildDefinition``)."""
    run, definition = _object(doc.get("runDetails")), _object(doc.get("buildDefinition"))
    builder = doc.get("builder") if isinstance(doc.get("builder"), dict) else run.get("builder")
    materials = doc.get("materials", definition.get("resolvedDependencies"))
    uris = [_text(m.get("uri")) for m in materials if isinstance(m, dict)] if isinstance(materials, list) else []
    return PayloadSummary(
        "slsa-provenance",
        builder=_text(builder.get("id")) if isinstance(builder, dict) else "",
        build_type=_text(doc.get("buildType") or definition.get("buildType")),
        materials=tuple(uris[:MAX_NAMES_SHOWN]),
        material_count=len(uris),
    )
