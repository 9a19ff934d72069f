"""A mitmproxy addon: the lab's corporate-proxy policies, one per listening port (loaded by ``mitmdump -s``).

Never imported by regkit itself: it runs inside mitmproxy, in its own virtualenv (see
:mod:`regkit.lab.corpnet`). The policy file maps a port to what the proxy on that port does:

- ``credentials``: ``user:password`` a client must send in ``Proxy-Authorization`` (else ``407``);
- ``blocked``: ``host:port`` targets refused with ``403`` (a CONNECT too, as Squid or Zscaler refuse it);
- ``intercept``: re-sign TLS with mitmproxy's own CA (``False``: pass TLS through untouched).
"""

from __future__ import annotations

import base64
import hmac
import json
from pathlib import Path
from typing import Any

from mitmproxy import ctx, http, tls


class CorporatePolicy:
    """Applies the policy of the port each client connected to."""

    def __init__(self) -> None:
        self.ports: dict[int, dict[str, Any]] = {}

    def load(self, loader: Any) -> None:
        loader.add_option("regkit_policy", str, "", "JSON file: port -> credentials, blocked, intercept")

    def configure(self, updated: set[str]) -> None:
        if "regkit_policy" in updated and ctx.options.regkit_policy:
            doc = json.loads(Path(ctx.options.regkit_policy).read_text())
            self.ports = {int(port): policy for port, policy in doc.items()}

    def _policy(self, flow: http.HTTPFlow) -> dict[str, Any]:
        sockname = flow.client_conn.sockname
        return self.ports.get(sockname[1], {}) if sockname else {}

    def http_connect(self, flow: http.HTTPFlow) -> None:
        self._apply(flow)

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        # Requests inside a CONNECT tunnel were checked at the CONNECT; absolute-form ones are plain-HTTP proxying.
        if flow.request.first_line_format == "absolute":
            self._apply(flow)

    def _apply(self, flow: http.HTTPFlow) -> None:
        policy = self._policy(flow)
        if policy.get("credentials") and not _authorized(flow, policy["credentials"]):
            flow.response = http.Response.make(
                407,
                b"proxy authentication required\n",
                {"Proxy-Authenticate": 'Basic realm="regkit lab corporate proxy"', "Content-Type": "text/plain"},
            )
            return
        target = f"{flow.request.host}:{flow.request.port}"
        if target in policy.get("blocked", ()):
            flow.response = http.Response.make(
                403, f"access to {target} is blocked by policy\n".encode(), {"Content-Type": "text/plain"}
            )
            return
        flow.request.headers.pop("Proxy-Authorization", None)  # the proxy's credentials stop here

    def tls_clienthello(self, data: tls.ClientHelloData) -> None:
        sockname = data.context.client.sockname
        policy = self.ports.get(sockname[1], {}) if sockname else {}
        data.ignore_connection = not policy.get("intercept", False)


def _authorized(flow: http.HTTPFlow, credentials: str) -> bool:
    expected = "Basic " + base64.b64encode(credentials.encode()).decode()
    return hmac.compare_digest(flow.request.headers.get("Proxy-Authorization", ""), expected)


addons = [CorporatePolicy()]
