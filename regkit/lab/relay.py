"""A TCP relay that delays one direction by a fixed time: the lab's stand-in for a distant proxy.

On loopback a proxy's extra hop costs about nothing, and millisecond noise decides whether a pull
through it looks slower. The relay makes the cost real and fixed: every byte the client sends
reaches the proxy ``delay`` seconds later (bytes keep their order and pace, as on a long link), so
each request waits exactly that much longer for its answer. Answers flow back undelayed.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time

_CHUNK = 64 << 10


def _pump(source: socket.socket, target: socket.socket, delay: float) -> None:
    """Copy ``source`` to ``target``, each chunk ``delay`` seconds after it arrived; then half-close ``target``."""
    due: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def read() -> None:
        while True:
            try:
                data = source.recv(_CHUNK)
            except OSError:
                data = b""
            due.put((time.monotonic() + delay, data))
            if not data:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    while True:
        at, data = due.get()
        time.sleep(max(0.0, at - time.monotonic()))
        if not data:
            break
        try:
            target.sendall(data)
        except OSError:
            break
    with contextlib.suppress(OSError):
        target.shutdown(socket.SHUT_WR)
    reader.join()


def _relay(client: socket.socket, target_port: int, delay: float) -> None:
    """Serve one connection: client to target delayed, target to client at once."""
    try:
        upstream = socket.create_connection(("127.0.0.1", target_port))
    except OSError:
        client.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client, 0.0), daemon=True)
    back.start()
    _pump(client, upstream, delay)
    back.join()
    client.close()
    upstream.close()


def serve_delayed(listener: socket.socket, target_port: int, delay: float) -> None:
    """Accept connections on ``listener`` forever, relaying each to 127.0.0.1:``target_port``."""
    while True:
        client, _ = listener.accept()
        threading.Thread(target=_relay, args=(client, target_port, delay), daemon=True).start()
