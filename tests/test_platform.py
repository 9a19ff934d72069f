"""Platform parsing, normalisation and matching, case for case with containerd/platforms.

The tables follow containerd/platforms' platforms_test.go (TestParseSelector, TestParseSelectorInvalid)
and compare_test.go (TestOnly, TestOnlyStrict), rewritten for regkit's API. Where containerd leaves
arm64's default variant empty, regkit writes it out as ``v8``.
"""

import pytest

from regkit import InvalidPlatform, Platform
from regkit.oci.platform import _cpu_variant

PARSED = [
    ("linux/arm64", "linux/arm64/v8"),
    ("linux/arm64/v8", "linux/arm64/v8"),
    ("linux/arm", "linux/arm/v7"),
    ("linux/arm/v6", "linux/arm/v6"),
    ("linux/arm/v7", "linux/arm/v7"),
    ("arm", "linux/arm/v7"),
    ("armel", "linux/arm/v6"),
    ("armhf", "linux/arm/v7"),
    ("Aarch64", "linux/arm64/v8"),
    ("x86_64", "linux/amd64"),
    ("Linux/x86_64", "linux/amd64"),
    ("i386", "linux/386"),
    ("s390x", "linux/s390x"),
    ("linux/s390x", "linux/s390x"),
    # containerd's normalizeArch, spelling by spelling
    ("linux/arm/7", "linux/arm/v7"),
    ("linux/arm/5", "linux/arm/v5"),
    ("linux/arm/6", "linux/arm/v6"),
    ("linux/arm/8", "linux/arm/v8"),
    ("linux/armhf/v6", "linux/arm/v7"),
    ("linux/armel/v7", "linux/arm/v6"),
    ("linux/arm64/8", "linux/arm64/v8"),
    ("linux/arm64/v8.0", "linux/arm64/v8"),
    ("linux/arm64/9", "linux/arm64/v9"),
    ("linux/arm64/9.0", "linux/arm64/v9"),
    ("linux/arm64/v9.0", "linux/arm64/v9"),
    ("linux/arm64/v8.2", "linux/arm64/v8.2"),
    ("linux/aarch64/v9.0", "linux/arm64/v9"),
    ("linux/amd64/v1", "linux/amd64"),
    ("linux/amd64/v3", "linux/amd64/v3"),
    ("linux/x86-64/V2", "linux/amd64/v2"),
    ("linux/i386/whatever", "linux/386"),
    ("macos/arm64", "darwin/arm64/v8"),
    ("LINUX/ARM/V7", "linux/arm/v7"),
    ("linux/riscv64", "linux/riscv64"),
]


@pytest.mark.parametrize("text,expected", PARSED)
def test_parse_and_normalise_like_containerd(text, expected):
    assert str(Platform.parse(text)) == expected


def test_parts_of_a_parsed_platform():
    assert Platform.parse("linux/amd64") == Platform("linux", "amd64", "")
    assert Platform.parse("linux/arm64") == Platform("linux", "arm64", "v8")
    assert Platform.parse("linux/aarch64") == Platform("linux", "arm64", "v8")


@pytest.mark.parametrize(
    "text,os",
    [("linux", "linux"), ("windows", "windows"), ("macOS", "darwin"), ("Darwin", "darwin"), ("windows()", "windows")],
)
def test_an_os_alone_means_the_hosts_architecture(text, os):
    host = Platform.host()
    assert Platform.parse(text) == Platform(os, host.architecture, host.variant)


@pytest.mark.parametrize(
    "text,phrase",
    [
        ("", "empty"),
        ("/linux/arm", "empty part"),
        ("linux/arm/", "empty part"),
        ("linux//arm", "empty part"),
        ("linux /arm", "'linux ' may only have letters"),
        (" linux/amd64", "may only have letters"),
        ("linux/&arm", "'&arm' may only have letters"),
        ("linux/arm/v7 ", "may only have letters"),
        ("linux/arm/foo/bar", "more than three parts"),
        ("*", "wildcards"),
        ("linux/*", "wildcards"),
        ("foo", "neither a known operating system nor a known architecture"),
        ("windows(10.0.17763)/amd64", "OS version or features"),
        ("windows(10.0.17763+win32k)", "OS version or features"),
        ("linux(+gpu)/amd64", "OS version or features"),
        ("linux(/amd64", "may only have letters"),
    ],
)
def test_bad_platforms_say_what_is_wrong(text, phrase):
    with pytest.raises(InvalidPlatform) as info:
        Platform.parse(text)
    assert phrase in str(info.value) and "os/arch[/variant]" in str(info.value)


def test_a_long_platform_string_is_not_echoed_in_full():
    with pytest.raises(InvalidPlatform) as info:
        Platform.parse("linux/" + "&" * 10_000)
    assert len(str(info.value)) < 500


def test_non_string_is_refused():
    with pytest.raises(InvalidPlatform, match="must be a string"):
        Platform.parse(None)  # type: ignore[arg-type]


ARM_IMAGES = ["linux/arm", "linux/arm/v4", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7", "linux/arm/v8"]
OTHERS = ["linux/amd64", "linux/arm64", "windows/amd64", "windows/arm"]
# containerd's TestOnly: what a host of each platform runs (True) and does not run (False).
ONLY = [
    ("linux/amd64", ["linux/amd64", "linux/386"], ["linux/amd64/v2", "linux/arm/v7", "linux/arm64", "windows/amd64"]),
    (
        "linux/amd64/v2",
        ["linux/amd64", "linux/amd64/v1", "linux/amd64/v2", "linux/386"],
        ["linux/amd64/v3", "linux/amd64/v4", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"],
    ),
    ("linux/386", ["linux/386"], ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64", "windows/arm"]),
    ("windows/amd64", ["windows/amd64"], ["linux/amd64", "linux/arm/v7", "linux/arm64", "windows/arm"]),
    ("linux/arm/v8", ARM_IMAGES[:1] + ARM_IMAGES[2:], ["linux/arm/v4", *OTHERS]),
    ("linux/arm/v7", ["linux/arm", "linux/arm/v5", "linux/arm/v6", "linux/arm/v7"], ["linux/arm/v4", "linux/arm/v8"]),
    ("linux/arm/v6", ["linux/arm/v5", "linux/arm/v6"], ["linux/arm", "linux/arm/v4", "linux/arm/v7", "linux/arm/v8"]),
    ("linux/arm/v5", ["linux/arm/v5"], [p for p in ARM_IMAGES if p != "linux/arm/v5"] + OTHERS),
    ("linux/arm/v4", ["linux/arm/v4"], ARM_IMAGES[:1] + ARM_IMAGES[2:] + OTHERS),
    (
        "linux/arm64/v9.6",
        ARM_IMAGES[:1]
        + ARM_IMAGES[2:]
        + ["linux/arm64", "linux/arm64/v8", "linux/arm64/v9", "linux/arm64/v9.0"]
        # every arm64/v8.x and v9.0 .. v9.6
        + [f"linux/arm64/v8.{n}" for n in range(1, 10)]
        + [f"linux/arm64/v9.{n}" for n in range(1, 7)],
        ["linux/amd64", "linux/arm/v4", "windows/amd64", "windows/arm", "linux/arm64/v8.10", "linux/arm64/v9.7"],
    ),
    (
        "linux/arm64/v9",
        ARM_IMAGES[:1]
        + ARM_IMAGES[2:]
        + ["linux/arm64", "linux/arm64/v8", "linux/arm64/v9", "linux/arm64/v9.0"]
        # v9.0 implements v8.5
        + [f"linux/arm64/v8.{n}" for n in range(1, 6)],
        ["linux/amd64", "linux/arm/v4", "windows/amd64", "windows/arm", "linux/arm64/v8.6", "linux/arm64/v9.1"],
    ),
    (
        "linux/arm64/v8.1",
        ARM_IMAGES[:1] + ARM_IMAGES[2:] + ["linux/arm64", "linux/arm64/v8", "linux/arm64/v8.1"],
        ["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "linux/arm64/v8.2", "windows/arm"],
    ),
    (
        "linux/arm64",
        ARM_IMAGES[:1] + ARM_IMAGES[2:] + ["linux/arm64", "linux/arm64/v8"],
        ["linux/amd64", "linux/arm/v4", "linux/arm/v9", "linux/arm64/v9", "linux/arm64/v8.1", "windows/amd64"],
    ),
    # variants outside every ladder run only themselves, and rank no known variant above
    ("linux/arm/v7l", ["linux/arm/v7l"], ARM_IMAGES),
    ("linux/arm64/v10", ["linux/arm64/v10"], ["linux/arm64", "linux/arm/v7", "linux/arm64/v9"]),
    ("linux/amd64/vx", ["linux/amd64/vx", "linux/386"], ["linux/amd64", "linux/amd64/v2"]),
    ("linux/s390x", ["linux/s390x"], ["linux/amd64", "linux/s390"]),
]


@pytest.mark.parametrize("host,runs,does_not_run", ONLY)
def test_what_a_host_runs_like_containerds_only(host, runs, does_not_run):
    h = Platform.parse(host)
    assert [p for p in runs if not h.runs(Platform.parse(p))] == []
    assert [p for p in does_not_run if h.runs(Platform.parse(p))] == []


# containerd's TestOnlyStrict: platforms that are the same once normalised (and some that are not).
SAME = [
    ("linux/arm/v7", "linux/arm"),
    ("linux/arm64", "linux/arm64/v8"),
    ("linux/arm64/v9", "linux/arm64/v9.0"),
    ("linux/amd64", "linux/amd64/v1"),
    ("linux/arm64", "linux/aarch64"),
]
NOT_SAME = [
    ("linux/arm/v8", "linux/arm/v7"),
    ("linux/arm/v6", "linux/arm"),
    ("linux/arm64/v9.5", "linux/arm64/v9.4"),
    ("linux/arm64/v8.1", "linux/arm64/v8"),
    ("linux/amd64", "linux/386"),
    ("linux/amd64", "windows/amd64"),
]


@pytest.mark.parametrize("a,b", SAME)
def test_same_platform_once_normalised(a, b):
    assert Platform.parse(a) == Platform.parse(b) and Platform.parse(a).preference(Platform.parse(b)) == 0


@pytest.mark.parametrize("a,b", NOT_SAME)
def test_different_platforms_stay_different(a, b):
    assert Platform.parse(a) != Platform.parse(b)


@pytest.mark.parametrize(
    "host,order",
    [
        ("linux/arm/v8", ["linux/arm/v8", "linux/arm/v7", "linux/arm/v6", "linux/arm/v5"]),
        ("linux/amd64/v3", ["linux/amd64/v3", "linux/amd64/v2", "linux/amd64", "linux/386"]),
        (
            "linux/arm64/v8.2",
            ["linux/arm64/v8.2", "linux/arm64/v8.1", "linux/arm64/v8", "linux/arm/v8", "linux/arm/v7"],
        ),
        ("linux/arm64/v9.1", ["linux/arm64/v9.1", "linux/arm64/v9", "linux/arm64/v8.6", "linux/arm64/v8.5"]),
    ],
)
def test_ranking_follows_the_variant_ladder(host, order):
    h = Platform.parse(host)
    assert [h.preference(Platform.parse(p)) for p in order] == sorted(h.preference(Platform.parse(p)) for p in order)
    assert [str(p) for p in h.compatible()[: len(order)]] == order


def test_images_are_normalised_before_matching():
    assert Platform.parse("linux/arm64").runs(Platform("linux", "aarch64", ""))
    assert Platform.parse("linux/amd64").runs(Platform("linux", "x86_64", "v1"))


@pytest.mark.parametrize(
    "cpuinfo,machine,variant",
    [
        ("processor\t: 0\nmodel name\t: ARMv7 Processor rev 4 (v7l)\nCPU architecture: 7\n", "armv7l", "v7"),
        # Raspberry Pi 1: an ARMv6 CPU the kernel reports as architecture 7
        ("model name\t: ARMv6-compatible processor rev 7 (v6l)\nCPU architecture: 7\n", "armv6l", "v6"),
        ("CPU architecture: 8\n", "armv8l", "v8"),
        ("CPU architecture: 5TEJ\n", "armv5tejl", "v5"),
        ("CPU architecture: ?(12)\n", "armv7l", "v7"),
        ("", "armv6l", "v6"),  # emulated: no cpuinfo field, the machine name tells
        ("CPU architecture: 42\n", "armv7l", "unknown"),
        ("", "arm", ""),
    ],
)
def test_arm_host_variant_like_containerd(cpuinfo, machine, variant):
    assert _cpu_variant(cpuinfo, machine) == variant


def test_host_platform_is_linux():
    assert Platform.host().os == "linux"
    assert Platform.host().runs(Platform.host())
