"""Exports of the transcript: curl commands without secrets, HAR 1.2, JSON lines, pandas; JWT claims."""

from __future__ import annotations

import base64
import json
import subprocess

import jsonschema

import regkit
from regkit.http.exchange import Exchange
from regkit.http.formats import COLUMNS, to_curl, to_har
from regkit.oci.jwt import decode_claims
from regkit.oci.redact import redact_headers, redact_url

from .helpers import cli

TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJlLXZhbHVl"
SIGNATURE = "Zm9vYmFyYmF6cXV4cXV1eA"
PASSWORD = "s3cret-pa55"
PROXY = "http://u:proxy-pa55@proxy.example:3128"

_STRING = {"type": "string"}
_PAIRS = {
    "type": "array",
    "items": {"type": "object", "required": ["name", "value"], "properties": {"name": _STRING, "value": _STRING}},
}
_ISO_8601 = {"type": "string", "pattern": r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$"}
_SIZE = {"type": "integer", "minimum": -1}
_MS = {"type": "number", "minimum": 0}
_OPTIONAL_MS = {"type": "number", "minimum": -1}
# The required fields of HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), as HAR viewers check them.
HAR_SCHEMA = {
    "type": "object",
    "required": ["log"],
    "properties": {
        "log": {
            "type": "object",
            "required": ["version", "creator", "entries"],
            "properties": {
                "version": {"const": "1.2"},
                "creator": {"type": "object", "required": ["name", "version"]},
                "pages": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["startedDateTime", "id", "title", "pageTimings"],
                        "properties": {"startedDateTime": _ISO_8601, "id": _STRING, "title": _STRING},
                    },
                },
                "entries": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["startedDateTime", "time", "request", "response", "cache", "timings"],
                        "properties": {
                            "pageref": _STRING,
                            "startedDateTime": _ISO_8601,
                            "time": _MS,
                            "request": {
                                "type": "object",
                                "required": [
                                    "method",
                                    "url",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "queryString",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "method": _STRING,
                                    "url": _STRING,
                                    "httpVersion": _STRING,
                                    "cookies": {"type": "array"},
                                    "headers": _PAIRS,
                                    "queryString": _PAIRS,
                                    "headersSize": _SIZE,
                                    "bodySize": _SIZE,
                                },
                            },
                            "response": {
                                "type": "object",
                                "required": [
                                    "status",
                                    "statusText",
                                    "httpVersion",
                                    "cookies",
                                    "headers",
                                    "content",
                                    "redirectURL",
                                    "headersSize",
                                    "bodySize",
                                ],
                                "properties": {
                                    "status": {"type": "integer"},
                                    "statusText": _STRING,
                                    "httpVersion": _STRING,
                                    "cookies": {"type": "array"},
                                    "headers": _PAIRS,
                                    "content": {
                                        "type": "object",
                                        "required": ["size", "mimeType"],
                                        "properties": {"size": {"type": "integer"}, "mimeType": _STRING},
                                    },
                                    "redirectURL": _STRING,
                                    "headersSize": _SIZE,
                                    "bodySize": _SIZE,
                                },
                            },
                            "cache": {"type": "object"},
                            "timings": {
                                "type": "object",
                                "required": ["send", "wait", "receive"],
                                "properties": {
                                    "send": _MS,
                                    "wait": _MS,
                                    "receive": _MS,
                                    **{k: _OPTIONAL_MS for k in ("blocked", "dns", "connect", "ssl")},
                                },
                            },
                        },
                    },
                },
            },
        }
    },
}


def exchange(
    headers: dict[str, str] | None = None,
    url: str = "https://registry.example/v2/library/busybox/manifests/latest",
    **fields: object,
) -> Exchange:
    """A recorded exchange (so redacted) as the transport would make it."""
    recorded = Exchange.begin("manifest", "GET", url, headers or {}, 1_700_000_000.0)
    recorded.status, recorded.reason, recorded.time_to_headers, recorded.total_time = 200, "OK", 0.01, 0.03
    for name, value in fields.items():
        setattr(recorded, name, value)
    return recorded


def shell_words(command: str, **variables: str) -> list[str]:
    """The arguments bash would pass to curl, with ``variables`` set in its environment."""
    script = 'curl() { printf "%s\\n" "$@"; }\n' + command
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=variables, check=True)
    return done.stdout.splitlines()


def test_curl_names_secrets_as_shell_variables_and_never_holds_them():
    bearer = exchange({"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"})
    redirect = exchange(url=f"https://cdn.example/blob/data?md5={SIGNATURE}&expires=99", step="blob")
    basic = base64.b64encode(f"lab:{PASSWORD}".encode()).decode()
    login = exchange({"Authorization": f"Basic {basic}"}, url="https://auth.example/token?service=x")
    commands = [to_curl(e) for e in (bearer, redirect, login)]
    for command in commands:
        assert TOKEN not in command and SIGNATURE not in command and basic not in command
        assert "<redacted" not in command
    words = shell_words(commands[0], TOKEN="T")
    assert words[-1] == "https://registry.example/v2/library/busybox/manifests/latest"
    assert words[words.index("Authorization: Bearer T") - 1] == "-H" and "Accept: application/json" in words
    assert shell_words(commands[1], MD5="M")[-3:] == ["-o", "blob", "https://cdn.example/blob/data?md5=M&expires=99"]
    assert shell_words(commands[2], USERNAME="lab", PASSWORD="p")[-3:] == [
        "-u",
        "lab:p",
        "https://auth.example/token?service=x",
    ]


def test_curl_quotes_hostile_values_and_uses_head_and_proxy():
    hostile = exchange({"X-Note": 'a"b$(touch pwned)`id`\\'}, method="HEAD", proxy=redact_url(PROXY))
    words = shell_words(hostile.to_curl(), PROXY_PASSWORD="pp")
    assert words[:3] == ["-sS", "-I", "--proxy"]
    assert words[3] == "http://u:pp@proxy.example:3128" and "proxy-pa55" not in hostile.to_curl()
    assert 'X-Note: a"b$(touch pwned)`id`\\' in words


def test_transcript_dataframe_has_the_columns_and_relative_times():
    transcript = regkit.Transcript()
    first, second = exchange(), exchange(started=1_700_000_000.5, status=None, error="refused")
    transcript.append(first)
    transcript.append(second)
    frame = transcript.to_dataframe()
    assert tuple(frame.columns) == COLUMNS
    assert list(frame["start"]) == [0.0, 0.5] and frame["end"][0] == first.total_time
    assert frame["started"].dt.tz is not None and frame["error"].isna().tolist() == [True, False]
    assert regkit.Transcript().to_dataframe().columns.tolist() == list(COLUMNS)


def test_jsonl_has_one_exchange_per_line():
    transcript = regkit.Transcript()
    for _ in range(3):
        transcript.append(exchange({"Authorization": f"Bearer {TOKEN}"}))
    lines = transcript.to_jsonl().splitlines()
    assert len(lines) == 3 and TOKEN not in transcript.to_jsonl()
    assert json.loads(lines[0])["request_headers"][0][0] == "Authorization"


def test_har_entries_carry_timings_redirects_and_failures():
    location = [("Location", f"https://cdn.example/x?md5={SIGNATURE}")]
    ok = exchange(response_headers=redact_headers(location), status=307)
    failed = exchange(status=None, reason="", error="connection refused", time_to_headers=None, total_time=0.002)
    har = to_har([ok, failed], "test")
    jsonschema.validate(har, HAR_SCHEMA)
    first, second = har["log"]["entries"]
    assert first["timings"]["wait"] == 10.0 and round(first["timings"]["receive"], 6) == 20.0
    assert first["time"] == sum(first["timings"][k] for k in ("send", "wait", "receive"))
    assert first["response"]["redirectURL"].startswith("https://cdn.example/x?md5=<redacted:")
    assert second["response"]["status"] == 0 and second["response"]["_error"] == "connection refused"
    assert SIGNATURE not in json.dumps(har)
    jsonschema.validate(to_har([]), HAR_SCHEMA)


def test_cli_transcript_is_valid_har(registry, tmp_path):
    ref = f"{registry.host}/library/busybox:latest"
    done = cli("pull", ref, "-o", "b.tar", "--insecure-registry", "-q", "--transcript", "pull.har", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    har = json.loads((tmp_path / "pull.har").read_text())
    jsonschema.validate(har, HAR_SCHEMA)
    entries = har["log"]["entries"]
    assert [e["_step"] for e in entries][:2] == ["token", "manifest"] and entries[-1]["response"]["status"] == 200
    assert har["log"]["pages"][0]["title"] == f"regkit pull {ref}"


def test_cli_transcript_is_written_when_the_pull_fails(tmp_path):
    done = cli("pull", "127.0.0.1:9/x/y", "--insecure-registry", "--transcript", "fail.har", cwd=tmp_path)
    assert done.returncode == 1
    har = json.loads((tmp_path / "fail.har").read_text())
    jsonschema.validate(har, HAR_SCHEMA)
    assert har["log"]["entries"][0]["response"]["status"] == 0


def jwt(header: dict[str, object], claims: dict[str, object], signature: bytes = b"sig") -> str:
    """A JWT-shaped string (base64url segments without padding)."""
    parts = [json.dumps(header).encode(), json.dumps(claims).encode(), signature]
    return ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts)


def test_jwt_claims_are_decoded_without_verifying():
    access = [{"type": "repository", "name": "library/busybox", "actions": ["pull"]}]
    token = jwt({"alg": "RS256"}, {"iss": "issuer", "sub": "", "aud": ["a", "b"], "exp": 1000, "access": access})
    claims = decode_claims(token)
    assert claims is not None and claims.algorithm == "RS256"
    assert (claims.issuer, claims.subject, claims.audience) == ("issuer", "", "a, b")
    assert claims.access == ["repository:library/busybox:pull"]
    assert claims.expires_at == 1000.0 and claims.seconds_left(now=400) == 600.0 and claims.issued_at is None


def test_jwt_decoding_tolerates_other_tokens():
    assert decode_claims("opaque-token") is None
    assert decode_claims("a.b.c") is None
    assert decode_claims(jwt({"alg": "none"}, {"exp": True, "access": "all"})).expires_at is None  # type: ignore[union-attr]
    assert decode_claims(jwt({"alg": "none"}, {"access": "all"})).access == []  # type: ignore[union-attr]
    not_object = ".".join(base64.urlsafe_b64encode(b"[1]").decode() for _ in range(3))
    assert decode_claims(not_object) is None


def test_token_claims_only_for_bearer_tokens():
    bearer = regkit.Token("bearer", jwt({"alg": "RS256"}, {"iss": "lab"}))
    assert bearer.claims is not None and bearer.claims.issuer == "lab"
    assert regkit.Token("basic", "dXNlcjpwYXNz").claims is None and regkit.Token("none").claims is None
