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
