"""A repository worth looking at as a whole: tags sharing base layers, and what is attached to its images.

``library/app`` holds (see :func:`repository_samples`):

- ``v1``, ``v2`` and ``v2.1`` (the same manifest as ``v2``): one base layer shared, one layer of their own;
- ``multi``: an index for two platforms over the same base, with a buildkit-style attestation manifest per
  platform (an SPDX SBOM and SLSA v0.2 provenance as in-toto statements, platform ``unknown/unknown``);
- an SBOM artifact (``artifactType: application/spdx+json``) whose ``subject`` is ``v1``, listed in the
  fallback tag index ``sha256-<hex of v1>`` for registries without the referrers API;
- a cosign-style signature of ``v1`` under ``sha256-<hex>.sig``.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from ..http.client import Client
from ..oci import mediatypes as mt
from ..oci.artifacts import IN_TOTO, PREDICATE_TYPE, fallback_tag
from ..oci.digest import Digest
from ..oci.platform import Platform
from ..oci.reference import resolve
from . import imagebuild as ib
from .images import noise
from .upload import push_image

REPOSITORY = "library/app"
SPDX = "application/spdx+json"
EMPTY = "application/vnd.oci.empty.v1+json"
COSIGN_PAYLOAD = "application/vnd.dev.cosign.simplesigning.v1+json"
SPDX_PREDICATE = "https://spdx.dev/Document"
SLSA_PREDICATE = "https://slsa.dev/provenance/v0.2"
PACKAGES = (("busybox", "1.36.1"), ("musl", "1.2.4"), ("ca-certificates", "20230311"))
BASE_SIZE, OWN_SIZE = 192 << 10, 48 << 10  # incompressible bytes in the shared layer and in each tag's own


@dataclass(frozen=True)
class Pushed:
    """One manifest to push to :data:`REPOSITORY` under ``tag`` (or by digest when None)."""

    tag: str | None
    image: ib.BuiltImage


def _layer(name: str, size: int, seed: int) -> tuple[bytes, str]:
    return ib.tar_layer([ib.file(name, noise(size, seed))]), "gzip"


def _blob_descriptor(data: bytes, media_type: str, **annotations: str) -> dict[str, Any]:
    out: dict[str, Any] = {"mediaType": media_type, "digest": str(Digest.of(data)), "size": len(data)}
    if annotations:
        out["annotations"] = annotations
    return out


def _manifest(
    config: bytes, config_type: str, layers: list[tuple[bytes, dict[str, Any]]], **extra: Any
) -> ib.BuiltImage:
    """An OCI manifest over raw blobs (``extra``: artifactType, subject, annotations)."""
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        **({"artifactType": extra.pop("artifactType")} if "artifactType" in extra else {}),
        "config": _blob_descriptor(config, config_type),
        "layers": [descriptor for _, descriptor in layers],
        **extra,
    }
    blobs = {Digest.of(config): config, **{Digest.of(data): data for data, _ in layers}}
    return ib.BuiltImage(json.dumps(doc, indent=2).encode(), mt.OCI_MANIFEST, config, blobs)


def statement(subject: ib.BuiltImage, predicate_type: str, predicate: dict[str, Any]) -> bytes:
    """An in-toto statement about ``subject``."""
    doc = {
        "_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": f"pkg:docker/{REPOSITORY}", "digest": {"sha256": subject.digest.hex}}],
        "predicate": predicate,
    }
    return json.dumps(doc, indent=2).encode()


def spdx_document(name: str) -> dict[str, Any]:
    """A small SPDX 2.3 document listing :data:`PACKAGES`."""
    packages = [
        {"name": pkg, "versionInfo": version, "SPDXID": f"SPDXRef-Package-{pkg}", "downloadLocation": "NOASSERTION"}
        for pkg, version in PACKAGES
    ]
    return {"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT", "name": name, "packages": packages}


def provenance() -> dict[str, Any]:
    """SLSA v0.2 provenance as buildkit writes it (builder, build type, materials)."""
    return {
        "builder": {"id": "https://github.com/moby/buildkit"},
        "buildType": "https://mobyproject.org/buildkit@v1",
        "materials": [{"uri": "pkg:docker/debian@12", "digest": {"sha256": Digest.of(b"debian").hex}}],
    }


def attestation(subject: ib.BuiltImage) -> ib.BuiltImage:
    """A buildkit attestation manifest for ``subject``: SPDX and provenance statements, platform unknown/unknown."""
    sbom = statement(subject, SPDX_PREDICATE, spdx_document(REPOSITORY))
    slsa = statement(subject, SLSA_PREDICATE, provenance())
    layers = [
        (data, _blob_descriptor(data, IN_TOTO, **{PREDICATE_TYPE: kind}))
        for data, kind in ((sbom, SPDX_PREDICATE), (slsa, SLSA_PREDICATE))
    ]
    config_doc = {"architecture": "unknown", "os": "unknown", "config": {}, "rootfs": {"type": "layers"}}
    config = json.dumps(config_doc, sort_keys=True).encode()
    return _manifest(config, mt.OCI_CONFIG, layers)


def attested_index(images: list[tuple[ib.BuiltImage, Platform]]) -> ib.BuiltImage:
    """An OCI index over ``images``, each followed by its attestation entry, as ``docker buildx --sbom`` pushes."""
    entries: list[dict[str, Any]] = []
    children: list[ib.BuiltImage] = []
    for image, platform in images:
        attest = attestation(image)
        entry = attest.descriptor(Platform("unknown", "unknown")).to_json()
        entry["annotations"] = {
            "vnd.docker.reference.digest": str(image.digest),
            "vnd.docker.reference.type": "attestation-manifest",
        }
        entries += [image.descriptor(platform).to_json(), entry]
        children += [image, attest]
    raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}, indent=2).encode()
    return ib.BuiltImage(raw, mt.OCI_INDEX, b"", {}, children)


def sbom_artifact(subject: ib.BuiltImage) -> ib.BuiltImage:
    """An SPDX SBOM artifact whose ``subject`` is ``subject`` (found through the referrers API)."""
    document = json.dumps(spdx_document(f"{REPOSITORY}@{subject.digest}"), indent=2).encode()
    return _manifest(
        b"{}",
        EMPTY,
        [(document, _blob_descriptor(document, SPDX))],
        artifactType=SPDX,
        subject=_blob_descriptor(subject.manifest, subject.media_type),
        annotations={"org.opencontainers.image.created": "2026-01-01T00:00:00Z"},
    )


def fallback_index(artifacts: list[ib.BuiltImage]) -> ib.BuiltImage:
    """The referrers fallback tag's index: the artifacts' descriptors with their ``artifactType``."""
    entries = []
    for artifact in artifacts:
        entry = _blob_descriptor(artifact.manifest, artifact.media_type)
        entry["artifactType"] = json.loads(artifact.manifest).get("artifactType", "")
        entries.append(entry)
    raw = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": entries}, indent=2).encode()
    return ib.BuiltImage(raw, mt.OCI_INDEX, b"", {}, [])


def cosign_signature(subject: ib.BuiltImage) -> ib.BuiltImage:
    """A cosign-shaped signature manifest of ``subject`` (its simple-signing payload; the signature is a stand-in)."""
    critical = {
        "identity": {"docker-reference": REPOSITORY},
        "image": {"docker-manifest-digest": str(subject.digest)},
        "type": "cosign container image signature",
    }
    payload = json.dumps({"critical": critical, "optional": None}).encode()
    layer = _blob_descriptor(payload, COSIGN_PAYLOAD, **{"dev.cosignproject.cosign/signature": "bGFiLW9ubHk="})
    config = json.dumps({"architecture": "", "os": "", "config": {}, "rootfs": {"type": "layers"}}).encode()
    return _manifest(config, mt.OCI_CONFIG, [(payload, layer)])


def repository_samples() -> list[Pushed]:
    """Everything :data:`REPOSITORY` holds, in the order to push it (subjects before what refers to them)."""
    host = Platform.parse("linux/amd64")
    base = _layer("base.bin", BASE_SIZE, 200)
    v1 = ib.build_image([base, _layer("v1.bin", OWN_SIZE, 201)], platform=host)
    v2 = ib.build_image([base, _layer("v2.bin", OWN_SIZE, 202)], platform=host)
    arm = Platform.parse("linux/arm64")
    multi = attested_index(
        [
            (ib.build_image([base, _layer("multi-amd64.bin", OWN_SIZE, 203)], platform=host), host),
            (ib.build_image([base, _layer("multi-arm64.bin", OWN_SIZE, 204)], platform=arm), arm),
        ]
    )
    sbom = sbom_artifact(v1)
    return [
        Pushed("v1", v1),
        Pushed("v2", v2),
        Pushed("v2.1", v2),
        Pushed("multi", multi),
        Pushed(None, sbom),
        Pushed(fallback_tag(v1.digest), fallback_index([sbom])),
        Pushed(fallback_tag(v1.digest) + ".sig", cosign_signature(v1)),
    ]


def push_repository(
    client: Client, host: str, repository: str = REPOSITORY, tags: Collection[str] | None = None
) -> list[Pushed]:
    """Push :func:`repository_samples` to ``host`` (``repository`` instead of ``library/app`` when given; only
    ``tags`` when given)."""
    samples = [s for s in repository_samples() if tags is None or s.tag in tags]
    for sample in samples:
        where = f":{sample.tag}" if sample.tag else f"@{sample.image.digest}"
        push_image(client, resolve(f"{host}/{repository}{where}"), sample.image)
    return samples
