"""Platform parsing and containerd-like matching."""

import pytest

from regkit import InvalidPlatform, Platform


def test_parse_and_normalise():
    assert Platform.parse("linux/amd64") == Platform("linux", "amd64", "")
    assert Platform.parse("linux/arm64") == Platform("linux", "arm64", "v8")
    assert Platform.parse("linux/aarch64") == Platform("linux", "arm64", "v8")
    assert Platform.parse("arm") == Platform("linux", "arm", "v7")
    assert str(Platform.parse("linux/arm/v6")) == "linux/arm/v6"


@pytest.mark.parametrize("text", ["", "linux/", "a/b/c/d", "//"])
def test_bad_platforms(text):
    with pytest.raises(InvalidPlatform, match="os/arch"):
        Platform.parse(text)


def test_matching_variants_like_containerd():
    v7, v6, v8 = (Platform.parse(f"linux/arm/{v}") for v in ("v7", "v6", "v8"))
    assert v7.runs(v6) and v7.runs(v7) and not v7.runs(v8) and not v6.runs(v7)
    arm64 = Platform.parse("linux/arm64")
    assert arm64.runs(Platform.of("linux", "arm64", "")) and not arm64.runs(v7)
    amd64 = Platform.parse("linux/amd64")
    assert amd64.runs(Platform.of("linux", "amd64", "v1")) and not amd64.runs(Platform.parse("linux/amd64/v3"))
    assert not amd64.runs(Platform.parse("windows/amd64"))
    assert v7.preference(v7) < v7.preference(v6)


def test_host_platform_is_linux():
    assert Platform.host().os == "linux"
