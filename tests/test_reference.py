"""Reference parsing: the distribution grammar, Docker Hub normalisation, clear errors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from regkit import InvalidReference, resolve

VALID = [
    ("alpine", "registry-1.docker.io", "library/alpine", "latest", None),
    ("ubuntu:latest", "registry-1.docker.io", "library/ubuntu", "latest", None),
    ("docker.io/alpine:3.19", "registry-1.docker.io", "library/alpine", "3.19", None),
    ("index.docker.io/library/alpine", "registry-1.docker.io", "library/alpine", "latest", None),
    ("bitnami/redis", "registry-1.docker.io", "bitnami/redis", "latest", None),
    ("localhost/app", "localhost", "app", "latest", None),
    ("localhost:5000/a/b/c:v1.2-rc_3", "localhost:5000", "a/b/c", "v1.2-rc_3", None),
    ("127.0.0.1:5000/library/busybox:latest", "127.0.0.1:5000", "library/busybox", "latest", None),
    ("ghcr.io/org/my__app.x-y", "ghcr.io", "org/my__app.x-y", "latest", None),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None),
    ("Example.COM/app", "Example.COM", "app", "latest", None),
]
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("text,registry,repository,tag,digest", VALID)
def test_valid_references(text, registry, repository, tag, digest):
    ref = resolve(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)


def test_ubuntu_resolves_like_the_seed():
    assert str(resolve("ubuntu:latest")) == "registry-1.docker.io/library/ubuntu:latest"


def test_digest_reference_has_no_default_tag_and_digest_wins():
    ref = resolve(f"alpine@{DIGEST}")
    assert ref.tag is None and str(ref.digest) == DIGEST and ref.identifier == DIGEST
    both = resolve(f"alpine:3.19@{DIGEST}")
    assert both.tag == "3.19" and both.identifier == DIGEST


def test_familiar_names_for_repo_tags():
    assert resolve("alpine").repo_tag == "alpine:latest"
    assert resolve("bitnami/redis:7").repo_tag == "bitnami/redis:7"
    assert resolve("127.0.0.1:5000/x/y:1").repo_tag == "127.0.0.1:5000/x/y:1"
    assert resolve(f"alpine@{DIGEST}").repo_tag is None


@pytest.mark.parametrize(
    "text,phrase",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("UPPER", "lowercase"),
        ("library/Alpine", "lowercase"),
        ("https://registry/app", "scheme"),
        ("a//b", "empty path component"),
        ("app/", "empty path component"),
        ("alpine:", "tag"),
        ("alpine:-x", "tag"),
        ("alpine:latést", "tag"),
        ("alpine@sha256:abc", "64 hex digits"),
        ("alpine@md5:" + "a" * 32, "not supported"),
        (f"alpine@sha256:{'AB' * 32}", "lowercase hexadecimal"),
        ("alpine@sha256:../../etc/passwd", "hexadecimal"),
        ("a b", "white space"),
        ("ex_ample.com:5000/app", "registry host"),
        ("a" * 256, "255"),
    ],
)
def test_invalid_references_say_what_is_wrong(text, phrase):
    with pytest.raises(InvalidReference) as info:
        resolve(text)
    assert phrase in str(info.value)


def test_non_string_is_refused():
    with pytest.raises(InvalidReference, match="must be a string"):
        resolve(None)  # type: ignore[arg-type]


@given(st.text(max_size=80))
def test_any_string_parses_or_raises_our_error(text):
    try:
        ref = resolve(text)
    except InvalidReference:
        return
    # What parses must print back into something that parses to the same reference.
    assert resolve(str(ref)) == resolve(str(ref))
    assert resolve(str(ref)).name == ref.name


@given(st.from_regex(r"[a-zA-Z0-9._:/@-]{1,60}", fullmatch=True))
def test_reference_shaped_strings_parse_or_raise_our_error(text):
    try:
        ref = resolve(text)
    except InvalidReference as exc:
        assert exc.message.startswith(("invalid image reference", "the image reference is empty"))
        return
    assert resolve(str(ref)) == ref.__class__(ref.registry, ref.repository, ref.tag, ref.digest, str(ref))


# distribution/reference's TestParseRepositoryInfo: every spelling of a name gives the same familiar name
# (what docker shows and `docker load` tags), full name (containerd's), registry and repository path.
HUB = "registry-1.docker.io"
REPOSITORY_INFO = [
    # (spellings, familiar name, full name, registry, repository)
    (["localhost/fooo"], "localhost/fooo", "localhost/fooo", "localhost", "fooo"),
    (["localhost/fooo/bar"], "localhost/fooo/bar", "localhost/fooo/bar", "localhost", "fooo/bar"),
    (["LOCALDOMAIN/fooo"], "LOCALDOMAIN/fooo", "LOCALDOMAIN/fooo", "LOCALDOMAIN", "fooo"),
    (["LOCALDOMAIN/fooo/bar"], "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN/fooo/bar", "LOCALDOMAIN", "fooo/bar"),
    (["fooo/bar", "docker.io/fooo/bar", "index.docker.io/fooo/bar"], "fooo/bar", "docker.io/fooo/bar", HUB, "fooo/bar"),
    (
        ["ubuntu", "docker.io/library/ubuntu", "library/ubuntu"],
        "ubuntu",
        "docker.io/library/ubuntu",
        HUB,
        "library/ubuntu",
    ),
    (
        ["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu"],
        "nonlibrary/ubuntu",
        "docker.io/nonlibrary/ubuntu",
        HUB,
        "nonlibrary/ubuntu",
    ),
    (["other/library", "docker.io/other/library"], "other/library", "docker.io/other/library", HUB, "other/library"),
    (
        ["127.0.0.1:8000/private/moonbase"],
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000/private/moonbase",
        "127.0.0.1:8000",
        "private/moonbase",
    ),
    (
        ["127.0.0.1:8000/privatebase"],
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000/privatebase",
        "127.0.0.1:8000",
        "privatebase",
    ),
    (
        ["example.com/private/moonbase"],
        "example.com/private/moonbase",
        "example.com/private/moonbase",
        "example.com",
        "private/moonbase",
    ),
    (
        ["example.com:8000/privatebasee"],
        "example.com:8000/privatebasee",
        "example.com:8000/privatebasee",
        "example.com:8000",
        "privatebasee",
    ),
    (
        ["ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "index.docker.io/library/ubuntu-12.04-base"],
        "ubuntu-12.04-base",
        "docker.io/library/ubuntu-12.04-base",
        HUB,
        "library/ubuntu-12.04-base",
    ),
    (["foo", "docker.io/library/foo", "docker.io/foo"], "foo", "docker.io/library/foo", HUB, "library/foo"),
    # a nested path under library/ keeps its prefix: "foo/bar" would be another repository
    (
        ["library/foo/bar", "docker.io/library/foo/bar"],
        "library/foo/bar",
        "docker.io/library/foo/bar",
        HUB,
        "library/foo/bar",
    ),
    (["store/foo/bar", "docker.io/store/foo/bar"], "store/foo/bar", "docker.io/store/foo/bar", HUB, "store/foo/bar"),
    (["Foo/bar"], "Foo/bar", "Foo/bar", "Foo", "bar"),
    (["FOO/bar"], "FOO/bar", "FOO/bar", "FOO", "bar"),
]


@pytest.mark.parametrize(
    "text,familiar,full,registry,repository",
    [(text, *rest) for spellings, *rest in REPOSITORY_INFO for text in spellings],
)
def test_names_like_distribution_reference(text, familiar, full, registry, repository):
    ref = resolve(text)
    assert (ref.familiar_name, ref.canonical_name, ref.registry, ref.repository) == (
        familiar,
        full,
        registry,
        repository,
    )
    assert ref.repo_tag == f"{familiar}:latest"


def test_nested_library_path_keeps_its_prefix_in_repo_tags():
    assert resolve("docker.io/library/foo/bar:1").repo_tag == "library/foo/bar:1"
    assert resolve("library/foo/bar/baz").familiar_name == "library/foo/bar/baz"
    assert resolve("docker.io/library/library").familiar_name == "library"


# distribution/reference's TestValidateReferenceName and TestValidateRemoteName
VALID_NAMES = [
    "docker/docker",
    "library/debian",
    "debian",
    "localhost/library/debian",
    "localhost/debian",
    "LOCALDOMAIN/library/debian",
    "LOCALDOMAIN/debian",
    "docker.io/docker/docker",
    "docker.io/library/debian",
    "docker.io/debian",
    "index.docker.io/docker/docker",
    "index.docker.io/library/debian",
    "index.docker.io/debian",
    "127.0.0.1:5000/docker/docker",
    "127.0.0.1:5000/library/debian",
    "127.0.0.1:5000/debian",
    "192.168.0.1",
    "192.168.0.1:80",
    "192.168.0.1:8/debian",
    "192.168.0.2:25000/debian",
    "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev",
    "[fc00::1]:5000/docker",
    "[fc00::1]:5000/docker/docker",
    "[fc00:1:2:3:4:5:6:7]:5000/library/debian",
    "docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "Docker/docker",
    "DOCKER/docker",
    "docker-rules/docker",
    "docker---rules/docker",
    "doc/docker",
    "d/docker",
    "jess/t",
    "dock__er/docker",
    # distribution/reference's TestReferenceParse
    "test_com",
    "test.com:tag",
    "test.com:5000",
    "test.com/repo:tag",
    "test:5000/repo",
    "test:5000/repo:tag",
    "lowercase:Uppercase",
    "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
    "b.gcr.io/test.example.com/my-app:test.example.com",
    "xn--n3h.com/myimage:xn--n3h.com",
    "foo_bar.com:8080",
    "foo/foo_bar.com:8080",
    "[2001:db8::1]/repo",
    "[2001:db8:1:2:3:4:5:6]/repo:tag",
    "[2001:db8::1]:5000/repo:tag",
    "[2001:db8::]:5000/repo",
    "[::1]:5000/repo",
]
INVALID_NAMES = [
    "https://github.com/docker/docker",
    "docker/Docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker/Docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[fe80::1%eth0]:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    ":justtag",
    "@sha256:" + "f" * 64,
    "Uppercase:tag",
    "test:5000/Uppercase/lowercase:tag",
    "aa/asdf$$^/aa",
    "[2001:db8::1]:tag",
    "[fe80::1%@invalidzone]:5000/repo",
]


@pytest.mark.parametrize("text", VALID_NAMES)
def test_valid_names_like_distribution(text):
    assert resolve(text).repository


@pytest.mark.parametrize("text", INVALID_NAMES)
def test_invalid_names_like_distribution(text):
    with pytest.raises(InvalidReference, match="invalid image reference"):
        resolve(text)


@pytest.mark.parametrize(
    "text,repository",
    [
        # the limit counts the path, not the host (distribution/reference v0.6.0 and later)
        ("example.com/" + "a" * 255 + ":tag", "a" * 255),
        ("a/" * 127 + "a:tag-puts-this-over-max", "a/" * 127 + "a"),
        ("127.0.0.1:5000/" + "/".join(["abc"] * 63) + "ab", "/".join(["abc"] * 63) + "ab"),
    ],
)
def test_the_length_limit_counts_the_path_only(text, repository):
    assert resolve(text).repository == repository


@pytest.mark.parametrize(
    "text", ["domain/" + "a" * 256 + ":tag", "example.com/" + "a" * 256, "a" * 248, "docker.io/" + "a" * 248]
)
def test_a_path_over_255_characters_is_refused(text):
    # Hub's single names count with their library/ prefix, as distribution's normalised name does.
    with pytest.raises(InvalidReference, match="more than 255"):
        resolve(text)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 10_000,
        "A" * 10_000,
        "alpine:" + "t" * 10_000,
        "x" * 10_000 + ".com/App",
        "app/" + "a-" * 5_000 + "-",
        "a b" * 4_000,
    ],
    ids=["name", "uppercase", "tag", "host", "component", "space"],
)
def test_a_long_reference_is_not_echoed_in_full(text):
    with pytest.raises(InvalidReference) as info:
        resolve(text)
    assert len(str(info.value)) < 500 and "characters" in str(info.value)
