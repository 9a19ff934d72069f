"""Session fixtures: real servers (docker-registry, a private Docker engine) and the sample images.

Nothing here skips: a missing binary fails with a LabError that names the Debian package and
``scripts/setup``, which installs it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import regkit

from .helpers import checkout_env

# Every subprocess a test starts (python -m regkit, lab helpers) runs this checkout's regkit.
os.environ.update(checkout_env())
from regkit.lab import Lab
from regkit.lab.busybox import busybox_binary
from regkit.lab.engine import DockerEngine
from regkit.lab.images import SampleImage, sample_images
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_image


@pytest.fixture(scope="session", autouse=True)
def blob_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The session's blob cache: tests (their CLI subprocesses and notebook kernels too) never touch ~/.cache."""
    path = tmp_path_factory.mktemp("blob-cache")
    previous = os.environ.get("REGKIT_CACHE_DIR")
    os.environ["REGKIT_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        del os.environ["REGKIT_CACHE_DIR"]
    else:
        os.environ["REGKIT_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def busybox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A static busybox binary from Debian's busybox-static."""
    return busybox_binary(tmp_path_factory.mktemp("busybox"))


@pytest.fixture(scope="session")
def samples(busybox: Path) -> list[SampleImage]:
    """The sample images (without the large throughput image)."""
    return sample_images(busybox)


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, samples: list[SampleImage]) -> Iterator[RegistryServer]:
    """Debian's docker-registry without auth, holding every sample image."""
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        with regkit.Client(insecure=True) as client:
            for sample in samples:
                push_image(client, regkit.resolve(f"{server.host}/{sample.repository}:{sample.tag}"), sample.image)
        yield server


@pytest.fixture(scope="session")
def engine() -> Iterator[DockerEngine]:
    """A private Docker engine (vfs, own data root and socket) for ``docker load`` and ``docker run``."""
    # A short state path: the engine's unix sockets live below it and have a 107-byte limit.
    with tempfile.TemporaryDirectory(prefix="rk-engine-") as state, DockerEngine(Path(state)) as docker:
        yield docker


@pytest.fixture(scope="session")
def hub_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab in hub mode: realm and CDN reachable only through the seed's proxy; with its pull-through cache."""
    with Lab(tmp_path_factory.mktemp("hub-lab"), mode="hub", pull_through=True) as lab:
        yield lab


@pytest.fixture(scope="session")
def open_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """The lab in open mode: everything reachable directly."""
    with Lab(tmp_path_factory.mktemp("open-lab"), mode="open") as lab:
        yield lab
