"""WWW-Authenticate parsing: Bearer and Basic, quoting, several challenges."""

import re

from hypothesis import given
from hypothesis import strategies as st

from regkit.oci.challenge import find_challenge, parse_challenges

HUB = 'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"'


def test_docker_hub_challenge():
    (c,) = parse_challenges(HUB)
    assert c.scheme == "bearer"
    assert (c.realm, c.service, c.scope) == (
        "https://auth.docker.io/token",
        "registry.docker.io",
        "repository:library/ubuntu:pull",
    )


def test_quoted_commas_and_escapes_and_unquoted_values():
    (c,) = parse_challenges(
        'Bearer realm="http://x/t?a=1,b=2",scope="repository:a:pull,push",service=reg, error="insufficient_scope"'
    )
    assert c.realm == "http://x/t?a=1,b=2"
    assert c.scope == "repository:a:pull,push"
    assert c.service == "reg"
    assert c.params["error"] == "insufficient_scope"
    (d,) = parse_challenges(r'Basic realm="say \"hi\""')
    assert d.realm == 'say "hi"'


def test_several_challenges_in_one_header():
    cs = parse_challenges('Basic realm="Registry Realm", Bearer realm="https://a/token",service="s"')
    assert [c.scheme for c in cs] == ["basic", "bearer"]
    assert find_challenge(cs, "Bearer").realm == "https://a/token"
    assert find_challenge(cs, "basic").realm == "Registry Realm"


def test_token68_and_case_insensitive_names():
    cs = parse_challenges("Negotiate YWJj==, BEARER Realm=r")
    assert cs[0].params["token68"] == "YWJj=="
    assert cs[1].scheme == "bearer" and cs[1].realm == "r"


def test_garbage_yields_no_bearer():
    assert find_challenge(parse_challenges('=,,"'), "bearer") is None
    assert parse_challenges("") == []


@given(st.text(max_size=120))
def test_any_header_parses_to_a_list(text):
    challenges = parse_challenges(text)
    assert all(c.scheme == c.scheme.lower() for c in challenges)


@given(st.from_regex(r'(Bearer|Basic) ([a-z]+="[^"\\]{0,20}"(, ?)?){0,4}', fullmatch=True))
def test_challenge_shaped_headers_keep_every_parameter(text):
    (challenge,) = parse_challenges(text)
    assert challenge.scheme in ("bearer", "basic")
    names = re.findall(r'([a-z]+)="', text)
    assert set(challenge.params) == set(names)
    assert all(f'{name}="{value}"' in text for name, value in challenge.params.items())
