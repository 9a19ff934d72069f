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
