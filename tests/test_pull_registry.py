"""Pulls from a real docker-registry, checked by a real ``docker load`` and ``docker run``."""

from __future__ import annotations

import itertools
import json
import tarfile
from pathlib import Path

import pytest

import regkit
from regkit.errors import INSECURE
from regkit.lab.engine import DockerEngine
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import parse_manifest
from regkit.oci.platform import Platform
from regkit.storage.store import BlobStore

from .helpers import PULLABLE, flip_byte, push_unique, sample


def tar_json(path: Path, member: str) -> object:
    """A JSON member of a tar."""
    with tarfile.open(path) as tar:
        handle = tar.extractfile(member)
        assert handle is not None, f"{member} missing from {path}"
        return json.load(handle)


def load(engine: DockerEngine, path: Path) -> str:
    """``docker load -i`` and return its output."""
    return engine.run("load", "-i", str(path), timeout=300).stdout


def inspect_id(engine: DockerEngine, name: str) -> str:
    """The image ID the engine has for ``name``."""
    return engine.run("image", "inspect", "--format", "{{.Id}}", name).stdout.strip()


@pytest.mark.parametrize("repository,tag", PULLABLE)
def test_pull_then_docker_load_and_run(registry, engine, samples, tmp_path, repository, tag):
    ref = f"{registry.host}/{repository}:{tag}"
    out = tmp_path / "image.tar"
    result = regkit.pull(ref, out, insecure=True)

    # The tar is in Docker 25+ save layout: OCI layout plus manifest.json and repositories.
    (entry,) = tar_json(out, "manifest.json")
    assert entry["RepoTags"] == [ref]
    assert entry["Config"] == f"blobs/sha256/{result.manifest.config.digest.hex}"
    index = tar_json(out, "index.json")
    assert index["manifests"][0]["digest"] == str(result.image.manifest_digest)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"oci-layout", "repositories", *entry["Layers"]} <= names

    assert ref in load(engine, out)
    assert inspect_id(engine, ref) == str(result.manifest.config.digest)
    if sample(samples, repository, tag).runnable:
        assert engine.run("run", "--rm", "--network", "none", ref, "echo", "hello").stdout == "hello\n"


def test_index_pull_picks_the_host_platform_and_skips_the_attestation(registry, samples, tmp_path):
    result = regkit.pull(f"{registry.host}/library/busybox:multiarch", tmp_path / "x.tar", insecure=True)
    assert result.manifest.platform == Platform.host()
    assert result.manifest.digest == sample(samples, "library/busybox", "latest").image.digest
    assert any(d.is_attestation for d in result.manifest.index.manifests)
    # The chosen image, not the index, is what docker load gets.
    assert [e.step for e in result.exchanges].count("manifest") == 2


def test_other_platform_and_missing_platform(registry, tmp_path):
    ref = f"{registry.host}/library/busybox:multiarch"
    other = "linux/s390x" if Platform.host().architecture != "s390x" else "linux/arm64"
    result = regkit.get_manifest(ref, platform=other, client=regkit.Client(insecure=True))
    assert str(result.platform) == other
    with pytest.raises(regkit.NoMatchingPlatform, match="available:"):
        regkit.get_manifest(ref, platform="linux/riscv64", client=regkit.Client(insecure=True))


def test_an_os_alone_and_other_spellings_pick_like_containerd(registry, tmp_path):
    ref = f"{registry.host}/library/busybox:multiarch"
    client = regkit.Client(insecure=True)
    # "linux" alone means the host's architecture, as containerd's platforms.Parse has it.
    assert regkit.get_manifest(ref, platform="linux", client=client).platform == Platform.host()
    if Platform.host().architecture != "arm64":
        assert str(regkit.get_manifest(ref, platform="Linux/AArch64/8", client=client).platform) == "linux/arm64/v8"
    with pytest.raises(regkit.InvalidPlatform, match="OS version"):
        regkit.get_manifest(ref, platform="linux(5.10)/amd64", client=client)


def test_nested_library_path_on_docker_hub_keeps_its_repository(registry, engine, tmp_path):
    # docker.io/library/foo/bar's familiar name is library/foo/bar: tagging it foo/bar would put the image
    # into another repository. The local registry stands in for Docker Hub as its mirror.
    image = push_unique(registry, "library/nested/app", b"nested library path\n")
    hub = regkit.Endpoints.create(registry=f"http://{registry.host}", insecure=True)
    out = tmp_path / "nested.tar"
    result = regkit.pull("docker.io/library/nested/app:v1", out, endpoints=hub, insecure=True)
    assert result.manifest.digest == image.digest
    (entry,) = tar_json(out, "manifest.json")
    assert entry["RepoTags"] == ["library/nested/app:v1"]
    top_layer = result.manifest.layers[-1].digest.hex
    assert tar_json(out, "repositories") == {"library/nested/app": {"v1": top_layer}}
    annotations = tar_json(out, "index.json")["manifests"][0]["annotations"]  # type: ignore[index]
    assert annotations["io.containerd.image.name"] == "docker.io/library/nested/app:v1"
    assert "library/nested/app:v1" in load(engine, out)
    assert inspect_id(engine, "docker.io/library/nested/app:v1") == str(result.manifest.config.digest)
    assert engine.run("image", "inspect", "nested/app:v1", check=False).returncode != 0


def test_zstd_image_is_converted_for_old_engines_and_kept_on_request(registry, engine, tmp_path):
    ref = f"{registry.host}/library/layers:latest"
    auto = regkit.pull(ref, tmp_path / "auto.tar", insecure=True)
    assert auto.image.converted == (0, 2)
    compressions = [mt.layer_compression(d.media_type) for d in auto.image.layers]
    assert compressions == ["tar", "gzip", "tar", "tar", "gzip", "gzip"]
    assert engine.run("run", "--rm", "--network", "none", ref, "cat", "/etc/zstd.txt").stdout == "zstd layer\n" * 100

    kept = regkit.pull(ref, tmp_path / "keep.tar", insecure=True, layer_format="keep")
    assert kept.image.converted == () and kept.image.manifest_digest == kept.manifest.digest
    gz = regkit.pull(ref, tmp_path / "gzip.tar", insecure=True, layer_format="gzip")
    assert {mt.layer_compression(d.media_type) for d in gz.image.layers} == {"gzip"}
    # Converted layers keep their diff_ids, so every variant is the same image to the engine.
    load(engine, tmp_path / "gzip.tar")
    assert inspect_id(engine, ref) == str(auto.manifest.config.digest)


def test_steps_one_at_a_time(registry, tmp_path):
    client = regkit.Client(insecure=True)
    ref = regkit.resolve(f"{registry.host}/library/busybox:docker")
    token = regkit.get_token(ref, client=client)
    assert token.kind == "none" and token.exchanges[0].method == "HEAD"
    manifest = regkit.get_manifest(ref, token=token, client=client)
    assert manifest.manifest.media_type == mt.DOCKER_MANIFEST
    blobs = tmp_path / "blobs"
    config = regkit.fetch_blob(ref, manifest.config, blobs, token=token, client=client)
    assert json.loads(config.path.read_bytes())["architecture"] == Platform.host().architecture
    layers = [regkit.fetch_blob(ref, d, blobs, token=token, client=client) for d in manifest.layers]
    assert all(b.path.stat().st_size == b.size for b in layers)
    again = regkit.fetch_blob(ref, manifest.layers[0], blobs, client=client)
    assert again.cached and again.exchanges == ()
    image = regkit.assemble(manifest, blobs, tmp_path / "bb.tar")
    assert image.image_id == str(manifest.config.digest)
    assert image.repo_tags == (str(ref),)
    # Every exchange of every step is in the client's transcript, in order.
    steps = [e.step for e in client.transcript]
    assert steps == ["token", "manifest", "blob", "blob"]


def test_oci_layout_directory_and_tar(registry, tmp_path):
    ref = f"{registry.host}/library/layers:latest"
    result = regkit.pull(ref, tmp_path / "layout", insecure=True, format="oci")
    root = tmp_path / "layout"
    assert json.loads((root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((root / "index.json").read_text())
    manifest_digest = regkit.Digest.parse(index["manifests"][0]["digest"])
    manifest = json.loads((root / "blobs/sha256" / manifest_digest.hex).read_bytes())
    # OCI output keeps zstd layers as served, and every blob is where its digest says.
    assert manifest_digest == result.manifest.digest
    assert any(layer["mediaType"] == mt.OCI_LAYER_ZSTD for layer in manifest["layers"])
    for layer in [manifest["config"], *manifest["layers"]]:
        data = (root / "blobs/sha256" / layer["digest"].split(":")[1]).read_bytes()
        assert str(regkit.Digest.of(data)) == layer["digest"] and len(data) == layer["size"]
    assert not (root / "manifest.json").exists()
    regkit.pull(ref, tmp_path / "layout.tar", insecure=True, format="oci")
    with tarfile.open(tmp_path / "layout.tar") as tar:
        assert "manifest.json" not in tar.getnames() and "index.json" in tar.getnames()
    with pytest.raises(regkit.OutputError, match="already exists"):
        regkit.pull(ref, root, insecure=True, format="oci")


def test_digest_reference_pull(registry, samples, engine, tmp_path):
    digest = sample(samples, "library/busybox", "docker").image.digest
    ref = f"{registry.host}/library/busybox@{digest}"
    result = regkit.pull(ref, tmp_path / "d.tar", insecure=True)
    assert result.image.repo_tags == ()
    assert result.manifest.digest == digest
    load(engine, tmp_path / "d.tar")
    assert engine.run(
        "image", "inspect", "--format", "{{.Id}}", str(result.manifest.config.digest)
    ).stdout.strip() == str(result.manifest.config.digest)


def test_cache_dir_reuses_verified_blobs(registry, tmp_path):
    ref = f"{registry.host}/library/whiteout:latest"
    first = regkit.pull(ref, tmp_path / "1.tar", insecure=True, cache_dir=tmp_path / "cache")
    second = regkit.pull(ref, tmp_path / "2.tar", insecure=True, cache_dir=tmp_path / "cache")
    assert first.downloaded_bytes > 5 << 20 and second.downloaded_bytes == 0
    assert all(b.cached for b in second.blobs)
    assert (tmp_path / "1.tar").read_bytes() == (tmp_path / "2.tar").read_bytes()


def test_a_corrupted_cache_blob_is_fetched_again(registry, tmp_path):
    ref = f"{registry.host}/library/busybox:docker"
    cache = tmp_path / "cache"
    first = regkit.pull(ref, tmp_path / "1.tar", insecure=True, cache_dir=cache)
    layer = first.manifest.layers[0]
    original = (tmp_path / "1.tar").read_bytes()
    stored, offset = BlobStore(cache).locate(layer.digest, layer.size) or (Path(), 0)  # a range of 1.tar
    flip_byte(stored, offset + layer.size // 2)
    second = regkit.pull(ref, tmp_path / "2.tar", insecure=True, cache_dir=cache)
    refetched = [b for b in second.blobs if not b.cached]
    assert [b.descriptor.digest for b in refetched] == [layer.digest]
    assert (tmp_path / "2.tar").read_bytes() == original


def test_jobs_bound_concurrency(registry, tmp_path):
    ref = f"{registry.host}/library/layers:latest"
    result = regkit.pull(ref, tmp_path / "j1.tar", insecure=True, jobs=1, cache=False)
    blobs = sorted((e.started, e.started + e.total_time) for e in result.exchanges if e.step == "blob")
    assert len(blobs) == 7
    assert all(end <= next_start + 0.005 for (_, end), (next_start, _) in itertools.pairwise(blobs))
    with pytest.raises(regkit.InvalidOption, match="jobs"):
        regkit.pull(ref, tmp_path / "j0.tar", insecure=True, jobs=0)


def test_not_found_is_clear(registry, tmp_path):
    with pytest.raises(regkit.NotFound, match="MANIFEST_UNKNOWN"):
        regkit.pull(f"{registry.host}/library/busybox:nope", tmp_path / "n.tar", insecure=True)
    assert not (tmp_path / "n.tar").exists()
    assert list(tmp_path.iterdir()) == []


def test_https_to_a_plain_http_registry_says_what_to_do(registry, tmp_path):
    with pytest.raises(regkit.TransportError, match="insecure=True") as failed:
        regkit.pull(f"{registry.host}/library/busybox", tmp_path / "t.tar")
    hint = failed.value.hint
    assert hint is not None and hint.option == INSECURE  # the option as data, spelled by each front end
    assert "--insecure-registry" not in str(failed.value) and "--insecure-registry" in hint.said("cli")


def test_assemble_from_blobs_on_disk_with_no_client(registry, engine, tmp_path, monkeypatch):
    """The blobs and the manifest's bytes on disk are all assemble needs: no client, no token, no socket."""
    ref = f"{registry.host}/library/busybox:latest"
    cache = tmp_path / "cache"
    pulled = regkit.pull(ref, tmp_path / "first.tar", insecure=True, cache_dir=cache)
    raw = pulled.manifest.manifest.raw
    (tmp_path / "manifest.json").write_bytes(raw)
    del pulled

    def no_network(*args: object) -> None:
        raise AssertionError("assemble opened a connection")

    monkeypatch.setattr("socket.socket.connect", no_network)
    image = parse_manifest((tmp_path / "manifest.json").read_bytes(), None, regkit.Digest.of(raw))
    assert isinstance(image, regkit.ImageManifest)
    assembled = regkit.assemble(image, cache, tmp_path / "offline.tar", reference="offline/busybox:disk")
    assert assembled.repo_tags == ("offline/busybox:disk",)
    untagged = regkit.assemble(image, cache, tmp_path / "untagged.tar")
    assert untagged.repo_tags == () and untagged.image_id == assembled.image_id
    monkeypatch.undo()
    assert "offline/busybox:disk" in load(engine, tmp_path / "offline.tar")
    assert engine.run("run", "--rm", "--network", "none", "offline/busybox:disk", "echo", "hi").stdout == "hi\n"
