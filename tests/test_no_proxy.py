"""NO_PROXY as curl and regkit (requests' rules) read it, side by side against the lab's forward proxy.

Both take a comma-separated list, ignore case and spaces, match a name and its subdomains with or
without a leading dot, take ``*`` for every host and an IP address or CIDR range for addresses, and
neither knows ``*.`` wildcards. They differ on ports: regkit bypasses the proxy for ``name:port``
entries on that port (for names only, not for IP addresses), while curl ignores entries with a port.
And curl reads only the lower-case ``http_proxy`` (httpoxy), regkit both spellings.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest

import regkit
from regkit.lab import Lab

from .test_corpnet import PROXY_VARIABLES

DIRECT, PROXY = "direct", "proxy"
CURL = shutil.which("curl")

# (NO_PROXY, the URL's host[:port] ("{port}" is the registry's), curl, regkit)
CASES = [
    ("corp.example", "registry.corp.example", DIRECT, DIRECT),
    ("corp.example", "corp.example", DIRECT, DIRECT),
    (".corp.example", "registry.corp.example", DIRECT, DIRECT),
    (".corp.example", "corp.example", DIRECT, DIRECT),
    ("CORP.example", "registry.corp.example", DIRECT, DIRECT),
    (" other.example , corp.example", "registry.corp.example", DIRECT, DIRECT),
    ("orp.example", "registry.corp.example", PROXY, PROXY),  # a suffix, but not at a dot
    ("*", "registry.corp.example", DIRECT, DIRECT),
    ("*.corp.example", "registry.corp.example", PROXY, PROXY),  # no wildcards
    ("corp.example:5000", "registry.corp.example:5000", PROXY, DIRECT),
    ("corp.example:5000", "registry.corp.example:6000", PROXY, PROXY),
    ("127.0.0.1", "127.0.0.1:{port}", DIRECT, DIRECT),
    ("127.0.0.0/8", "127.0.0.1:{port}", DIRECT, DIRECT),
    ("127.0.0.1:{port}", "127.0.0.1:{port}", PROXY, PROXY),
    ("localhost:{port}", "localhost:{port}", PROXY, DIRECT),
    ("localhost", "127.0.0.1:{port}", PROXY, PROXY),  # names are not resolved for matching
]


def curl_route(url: str, env: dict[str, str], proxy_port: int) -> str:
    if CURL is None:
        pytest.fail("curl is missing: it comes from the Debian package curl (scripts/setup installs it)")
    argv = [CURL, "-s", "-o", "/dev/null", "-w", "%{remote_port}", "--max-time", "5", url]
    port = subprocess.run(argv, env=env, capture_output=True, text=True).stdout
    return PROXY if port == str(proxy_port) else DIRECT


def regkit_route(url: str) -> str:
    """Where regkit sent the request: the proxy it records is the one requests was given."""
    # A made-up name asked directly does not resolve: the route is recorded all the same.
    with regkit.Client(insecure=True, docker_config=False) as client, contextlib.suppress(regkit.TransportError):
        client.send("probe", "GET", url).close()
    return PROXY if client.transcript[-1].proxy else DIRECT


@pytest.mark.parametrize("no_proxy,target,curl,ours", CASES)
def test_no_proxy_like_curl(open_lab: Lab, monkeypatch, no_proxy, target, curl, ours):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    port, proxy_port = open_lab.settings.front, open_lab.settings.forward
    url = f"http://{target.format(port=port)}/v2/"
    monkeypatch.setenv("http_proxy", open_lab.forward_proxy_url)
    monkeypatch.setenv("NO_PROXY", no_proxy.format(port=port))
    assert (curl_route(url, dict(os.environ), proxy_port), regkit_route(url)) == (curl, ours)


def test_upper_case_http_proxy_is_read_by_regkit_not_curl(open_lab: Lab, monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", open_lab.forward_proxy_url)
    url = f"http://{open_lab.front_host}/v2/"
    assert curl_route(url, dict(os.environ), open_lab.settings.forward) == DIRECT
    assert regkit_route(url) == PROXY
