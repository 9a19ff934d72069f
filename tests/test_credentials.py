"""Credentials only where they belong: no ambient netrc or cookies, no passwords in URLs, none over plain HTTP."""

from __future__ import annotations

from pathlib import Path

import regkit
from regkit.lab import Lab


def access_log(lab: Lab) -> list[str]:
    """Every line of the lab's nginx access log."""
    return (lab.state_dir / "nginx" / "access.log").read_text().splitlines()


def test_no_netrc_password_and_no_cookie_ride_along(hub_lab, tmp_path, monkeypatch):
    # A netrc entry for the lab's host: requests would send it as Basic, replacing the Bearer token,
    # and to the anonymous token request and the CDN hop alike.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login ambient password ambient-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    before = len(access_log(hub_lab))
    client = regkit.Client(endpoints=hub_lab.proxy_endpoints(), insecure=True)
    result = regkit.pull("whiteout", tmp_path / "w.tar", client=client)
    # The seed proxy sets a session cookie on every answer; registry and CDN share its host.
    lines = access_log(hub_lab)[before:]
    through_proxy = [line for line in lines if line.startswith(f"{hub_lab.settings.proxy} ")]
    assert len(through_proxy) >= 6
    assert all(" cookie=no " in line for line in through_proxy), through_proxy
    cdn = [line for line in lines if line.startswith(f"{hub_lab.settings.cdn} ")]
    assert len(cdn) == 4 and all(line.endswith("cookie=no auth=no") for line in cdn)
    sent = [v for e in result.exchanges for k, v in e.request_headers if k.lower() in ("authorization", "cookie")]
    assert not any(v.startswith("Basic") for v in sent) and all(v.startswith("Bearer") for v in sent)


def test_http_proxy_still_applies_without_requests_environment(open_lab, tmp_path: Path, monkeypatch):
    for name in ("NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", open_lab.forward_proxy_url)
    before = len(access_log(open_lab))
    with regkit.Client(insecure=True) as client:
        client.send("probe", "GET", f"http://{open_lab.front_host}/v2/").close()
    forwarded = [line for line in access_log(open_lab)[before:] if line.startswith(f"{open_lab.settings.forward} ")]
    assert len(forwarded) == 1
