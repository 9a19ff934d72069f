"""The lab's Python service process: token service, blob-redirect edge, fault proxy, referrers front, and relay.

Run as ``python -m regkit.lab.service CONFIG.json PORTS.json``; the lab writes the config and starts
it. The service binds its own ports (port 0: the kernel chooses, so no other socket can take them in
between) and holds the "unreachable" ports of hub mode, bound but never listening, so connections
to them are refused for as long as the lab lives. It writes the ports to PORTS.json once
everything is bound; with a ``relay`` delay it also serves the relay in front of the seed's proxy
(:mod:`regkit.lab.relay`) on a sixth.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .cdn import make_edge_handler
from .faults import make_fault_handler
from .referrers_front import make_referrers_handler
from .relay import serve_delayed
from .tokenserver import Policy, TokenIssuer, make_handler


def _serve(handler: type[BaseHTTPRequestHandler]) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    return server


def _refusing_port() -> socket.socket:
    """A socket bound to a fresh port and never listening: the port stays ours, and connections are refused."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def _port(bound: ThreadingHTTPServer | socket.socket) -> int:
    """The port a server or socket is bound to."""
    sock = bound.socket if isinstance(bound, ThreadingHTTPServer) else bound
    return int(sock.getsockname()[1])


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader sees the whole file or none."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text)
    os.replace(partial, path)


def main(argv: list[str] | None = None) -> None:
    """Serve the token service, the edge and the fault proxy until terminated."""
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text())
    ports_path = Path(args[1])
    token = config["token"]
    issuer = TokenIssuer(Path(token["key"]), Path(token["cert"]), token["issuer"], token["service"], int(token["ttl"]))
    policy = Policy(dict(token["users"]), tuple(token["private_namespaces"]))
    edge = config["edge"]
    dead_auth, dead_cdn = _refusing_port(), _refusing_port()
    # Hub mode advertises the refusing port as the CDN, as Docker Hub's CDN looks from behind a firewall.
    cdn_base = f"http://127.0.0.1:{_port(dead_cdn)}" if edge["hide_cdn"] else edge["cdn"]
    edge_handler = make_edge_handler(edge["registry"], cdn_base, edge["secret"], int(edge["ttl"]))
    token_server = _serve(make_handler(policy, issuer))
    edge_server = _serve(edge_handler)
    fault_server = _serve(make_fault_handler(edge["registry"], config["faults"]["front"]))
    referrers_server = _serve(make_referrers_handler(edge["registry"], Path(config["referrers"]["storage"])))
    servers = [token_server, edge_server, fault_server, referrers_server]
    ports = {
        "token": _port(token_server),
        "edge": _port(edge_server),
        "faults": _port(fault_server),
        "referrers": _port(referrers_server),
        "dead_auth": _port(dead_auth),
        "dead_cdn": _port(dead_cdn),
    }
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    relay = config.get("relay") or {}
    if float(relay.get("delay") or 0) > 0:
        listener = socket.create_server(("127.0.0.1", 0))
        ports["delayed_proxy"] = _port(listener)
        relayed = (listener, int(relay["target"]), float(relay["delay"]))
        threads.append(threading.Thread(target=serve_delayed, args=relayed, daemon=True))
    _write_atomically(ports_path, json.dumps(ports))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    main()
