"""The sample images of the lab and the tests, built in memory from a static busybox."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from ..oci.platform import Platform
from . import imagebuild as ib
from .imagebuild import BuiltImage

# Applets the lessons use; each is a symlink to /bin/busybox.
APPLETS = ("sh", "echo", "ls", "cat", "du", "df", "wc", "sha256sum")
WHITEOUT_FILE_SIZE = 5 << 20
# Other architectures in the multi-arch index: tiny images (no busybox for them offline) that
# exist to show platform selection, not to run.
OTHER_PLATFORMS = ("linux/arm64", "linux/arm/v7", "linux/s390x", "linux/amd64")


@dataclass(frozen=True)
class SampleImage:
    """A named image to push: repository, tag, the built image, and what it is for."""

    repository: str
    tag: str
    image: BuiltImage
    about: str
    runnable: bool = False


def busybox_layer(busybox: Path) -> bytes:
    """A layer with /bin/busybox and applet symlinks: enough for ``docker run … echo hello``."""
    entries = [ib.directory("bin"), ib.file("bin/busybox", busybox.read_bytes(), 0o755)]
    entries += [ib.symlink(f"bin/{name}", "busybox") for name in APPLETS]
    entries += [ib.directory("etc"), ib.file("etc/motd", b"hello from the regkit lab\n")]
    return ib.tar_layer(entries)


def noise(size: int, seed: int) -> bytes:
    """Incompressible bytes (so gzip sizes are realistic), the same for the same seed."""
    return random.Random(seed).randbytes(size)


def _marker_image(platform: Platform, oci: bool) -> BuiltImage:
    layer = ib.tar_layer([ib.file("platform.txt", f"{platform}\n".encode())])
    return ib.build_image([(layer, "gzip")], platform=platform, oci=oci, cmd=["cat", "/platform.txt"])


def multiarch(busybox_image: BuiltImage, host: Platform, *, oci: bool) -> BuiltImage:
    """An index (OCI) or manifest list (Docker) of busybox for the host plus marker images for others."""
    entries = [(busybox_image, host)]
    for text in OTHER_PLATFORMS:
        platform = Platform.parse(text)
        if platform != host:
            entries.append((_marker_image(platform, oci), platform))
    return ib.build_index(entries, oci=oci, attest=oci)


def sample_images(busybox: Path, *, large_layers: int = 0, large_layer_size: int = 32 << 20) -> list[SampleImage]:
    """Every sample image; ``large_layers`` > 0 adds the throughput image with that many layers."""
    host = Platform.host()
    base = busybox_layer(busybox)
    oci_bb = ib.build_image([(base, "gzip")], platform=host, oci=True, cmd=["sh"])
    docker_bb = ib.build_image([(base, "gzip")], platform=host, oci=False, cmd=["sh"])
    big = noise(WHITEOUT_FILE_SIZE, 1)
    whiteout = ib.build_image(
        [
            (base, "gzip"),
            (ib.tar_layer([ib.directory("data"), ib.file("data/big.bin", big)]), "gzip"),
            (ib.tar_layer([ib.directory("data"), ib.whiteout("data/big.bin")]), "gzip"),
        ],
        platform=host,
        cmd=["ls", "-la", "/data"],
    )
    many = ib.build_image(
        [
            (base, "zstd"),
            (ib.tar_layer([ib.file("etc/gzip.txt", b"gzip layer\n")]), "gzip"),
            (ib.tar_layer([ib.file("etc/zstd.txt", b"zstd layer\n" * 100)]), "zstd"),
            (ib.tar_layer([ib.file("etc/plain.txt", b"uncompressed layer\n")]), "tar"),
            (ib.tar_layer([]), "gzip"),
            (ib.tar_layer([ib.file("etc/last.txt", hashlib.sha256(b"last").hexdigest().encode())]), "gzip"),
        ],
        platform=host,
        cmd=["cat", "/etc/zstd.txt"],
        empty_history=[1, 4],
    )
    images = [
        SampleImage("library/busybox", "latest", oci_bb, "busybox, OCI manifest, one gzip layer", True),
        SampleImage("library/busybox", "docker", docker_bb, "busybox, Docker schema2 manifest", True),
        SampleImage(
            "library/busybox",
            "multiarch",
            multiarch(oci_bb, host, oci=True),
            "OCI index: busybox + other platforms + an attestation",
            True,
        ),
        SampleImage(
            "library/busybox", "manifest-list", multiarch(docker_bb, host, oci=False), "Docker manifest list", True
        ),
        SampleImage("library/whiteout", "latest", whiteout, "layer 2 adds a 5 MiB file, layer 3 deletes it", True),
        SampleImage("library/layers", "latest", many, "zstd, gzip, uncompressed and empty layers", True),
        SampleImage("private/busybox", "latest", oci_bb, "private: needs the lab user's credentials", True),
    ]
    if large_layers:
        layers = [
            (ib.tar_layer([ib.file(f"blob{i}.bin", noise(large_layer_size, 100 + i))]), "gzip")
            for i in range(large_layers)
        ]
        images.append(
            SampleImage(
                "library/large",
                "latest",
                ib.build_image([(base, "gzip"), *layers], platform=host),
                f"{large_layers} layers of {large_layer_size >> 20} MiB of random data, for throughput",
                True,
            )
        )
    return images
