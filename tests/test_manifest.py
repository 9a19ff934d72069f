"""Manifest parsing treats registry data as hostile; index selection skips attestations."""

import json

import pytest

from regkit import Digest, ManifestError, NoMatchingPlatform, Platform
from regkit.lab import imagebuild as ib
from regkit.oci import mediatypes as mt
from regkit.oci.manifest import Index, parse_manifest

D = "sha256:" + "0" * 64


def manifest(**overrides):
    doc = {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": D, "size": 2},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": 3}],
    }
    doc.update(overrides)
    raw = json.dumps(doc).encode()
    return raw


def parse(raw, ctype=None):
    return parse_manifest(raw, ctype, Digest.of(raw))


def test_parses_a_manifest():
    m = parse(manifest())
    assert m.config.size == 2 and len(m.layers) == 1 and m.total_size == 5


@pytest.mark.parametrize(
    "layer,phrase",
    [
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": "sha256:../../../etc/passwd", "size": 1}, "hexadecimal"),
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": "md5:" + "0" * 32, "size": 1}, "not supported"),
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": -1}, "invalid size"),
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": True}, "invalid size"),
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": 1 << 50}, "invalid size"),
        ({"mediaType": mt.OCI_LAYER_GZIP, "digest": D, "size": "12"}, "invalid size"),
        ({"digest": D, "size": 1}, "no mediaType"),
        ("not an object", "not an object"),
    ],
)
def test_hostile_descriptors_are_refused(layer, phrase):
    with pytest.raises(ManifestError, match=phrase):
        parse(manifest(layers=[layer]))


def test_not_json_and_wrong_types():
    with pytest.raises(ManifestError, match=r"not JSON.*<html>"):
        parse(b"<html>502 Bad Gateway</html>")
    with pytest.raises(ManifestError, match="schemaVersion 1"):
        parse(manifest(schemaVersion=1))
    with pytest.raises(ManifestError, match="unsupported manifest media type"):
        parse(manifest(mediaType="application/vnd.cncf.helm.config.v1+json"))
    with pytest.raises(ManifestError, match="Content-Type"):
        parse(manifest(), mt.DOCKER_MANIFEST)


def test_index_selection_skips_attestations_and_reports_platforms():
    amd = ib.build_image([], platform=Platform.parse("linux/amd64"))
    arm = ib.build_image([], platform=Platform.parse("linux/arm/v6"))
    built = ib.build_index([(amd, Platform.parse("linux/amd64")), (arm, Platform.parse("linux/arm/v6"))], attest=True)
    index = parse(built.manifest)
    assert isinstance(index, Index)
    assert len(index.manifests) == 3 and [str(p) for p in index.platforms] == ["linux/amd64", "linux/arm/v6"]
    assert index.select(Platform.parse("linux/arm/v7")).digest == arm.digest
    with pytest.raises(NoMatchingPlatform, match="available: linux/amd64, linux/arm/v6") as info:
        index.select(Platform.parse("linux/s390x"))
    assert len(info.value.available) == 2
    with pytest.raises(NoMatchingPlatform):
        index.select(Platform("unknown", "unknown"))


def _index_of(*platforms):
    images = {p: ib.build_image([], platform=Platform.parse(p)) for p in platforms}
    index = parse(ib.build_index([(image, Platform.parse(p)) for p, image in images.items()]).manifest)
    assert isinstance(index, Index)
    return index, {image.digest: p for p, image in images.items()}


@pytest.mark.parametrize(
    "host,offered,chosen",
    [
        # the best-ranked candidate wins, whatever the index order (containerd's Only + Less)
        ("linux/arm/v8", ["linux/arm/v5", "linux/arm/v7", "linux/arm/v6"], "linux/arm/v7"),
        ("linux/arm64/v8.1", ["linux/arm/v7", "linux/arm64/v9", "linux/arm64"], "linux/arm64"),
        ("linux/arm64", ["linux/arm/v6", "linux/arm/v7"], "linux/arm/v7"),
        ("linux/amd64", ["linux/386", "linux/amd64"], "linux/amd64"),
        ("linux/amd64", ["linux/arm64", "linux/386"], "linux/386"),
        ("linux/amd64/v3", ["linux/amd64", "linux/amd64/v2", "linux/amd64/v4"], "linux/amd64/v2"),
        ("linux/arm64/v9.2", ["linux/arm64/v8.8", "linux/arm64/v8.6", "linux/arm64/v9"], "linux/arm64/v9"),
        ("linux/arm64/v9.2", ["linux/arm64/v8.6", "linux/arm64/v8.7"], "linux/arm64/v8.7"),
        # an unknown variant does not rank above known ones
        ("linux/arm/v7", ["linux/arm/vfoo", "linux/arm/v6"], "linux/arm/v6"),
    ],
)
def test_index_selection_takes_the_best_ranked_platform(host, offered, chosen):
    index, names = _index_of(*offered)
    assert names[index.select(Platform.parse(host)).digest] == chosen


@pytest.mark.parametrize(
    "host,offered",
    [
        ("linux/arm/v4", ["linux/arm/v5", "linux/arm/v7", "linux/arm/v8"]),
        ("linux/arm64/v8.1", ["linux/arm64/v9", "linux/arm64/v8.2"]),
        ("linux/arm/v7", ["linux/arm/vfoo", "linux/arm/v8"]),
    ],
)
def test_index_without_a_runnable_platform(host, offered):
    index, _ = _index_of(*offered)
    with pytest.raises(NoMatchingPlatform, match="available"):
        index.select(Platform.parse(host))


def test_index_platform_spellings_are_normalised():
    raw = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": D,
                    "size": 2,
                    "platform": {"os": "Linux", "architecture": "aarch64", "variant": "8"},
                },
            ],
        }
    ).encode()
    index = parse(raw)
    assert isinstance(index, Index) and index.select(Platform.parse("linux/arm64")).digest == Digest.parse(D)
