"""Media types of Docker and OCI manifests, configs and layers, and what each means (pure)."""

from __future__ import annotations

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_TAR = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_FOREIGN = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"

IMAGE_MANIFESTS = (DOCKER_MANIFEST, OCI_MANIFEST)
INDEXES = (DOCKER_MANIFEST_LIST, OCI_INDEX)
# Order is preference; all four are offered in one Accept header like containerd does.
ACCEPT_MANIFESTS = (OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST)

GZIP, ZSTD, TAR = "gzip", "zstd", "tar"
_COMPRESSION = {
    DOCKER_LAYER_GZIP: GZIP,
    DOCKER_LAYER_FOREIGN: GZIP,
    DOCKER_LAYER_TAR: TAR,
    OCI_LAYER_TAR: TAR,
    OCI_LAYER_GZIP: GZIP,
    OCI_LAYER_NONDIST_GZIP: GZIP,
    OCI_LAYER_ZSTD: ZSTD,
}
_LAYER_TYPE = {
    (False, TAR): DOCKER_LAYER_TAR,
    (False, GZIP): DOCKER_LAYER_GZIP,
    (True, TAR): OCI_LAYER_TAR,
    (True, GZIP): OCI_LAYER_GZIP,
    (True, ZSTD): OCI_LAYER_ZSTD,
}


def layer_compression(media_type: str) -> str | None:
    """``gzip``, ``zstd`` or ``tar`` for a known layer media type, else None."""
    return _COMPRESSION.get(media_type)


def layer_media_type(compression: str, *, oci: bool) -> str:
    """The layer media type for a compression, in the OCI or the Docker family (Docker has no zstd)."""
    return _LAYER_TYPE[(oci or compression == ZSTD, compression)]


def is_oci(manifest_media_type: str) -> bool:
    """True for the OCI family of manifest media types."""
    return manifest_media_type in (OCI_MANIFEST, OCI_INDEX)
