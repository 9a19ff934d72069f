"""The lab's Python service process: token service, blob-redirect edge and fault proxy, on three ports.

Run as ``python -m regkit.lab.service CONFIG.json``; the lab writes the config and starts it.
"""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .cdn import make_edge_handler
from .faults import make_fault_handler
from .tokenserver import Policy, TokenIssuer, make_handler


def _serve(port: int, handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    return server


def main(argv: list[str] | None = None) -> None:
    """Serve the token service, the edge and the fault proxy until terminated."""
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    token = config["token"]
    issuer = TokenIssuer(Path(token["key"]), Path(token["cert"]), token["issuer"], token["service"], int(token["ttl"]))
    policy = Policy(dict(token["users"]), tuple(token["private_namespaces"]))
    edge = config["edge"]
    edge_handler = make_edge_handler(edge["registry"], edge["cdn_base"], edge["secret"], int(edge["ttl"]))
    servers = [
        _serve(int(token["port"]), make_handler(policy, issuer)),
        _serve(int(edge["port"]), edge_handler),
        _serve(int(config["faults"]["port"]), make_fault_handler(edge["registry"], config["faults"]["front"])),
    ]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
