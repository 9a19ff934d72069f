"""Churn the kernel's ephemeral port range, as a busy machine does, for a bounded time.

Run as ``python tests/churn.py SECONDS``. It keeps a few thousand sockets in flight on loopback:
listeners bound to port 0 (the kernel hands those out from the ephemeral range, like the lab's old
port choice did) and outgoing connections (each takes an ephemeral source port), each held for a
moment and replaced. Only 127.0.0.1 is touched; it prints ``ready`` once churning and stops by itself.
"""

from __future__ import annotations

import collections
import contextlib
import resource
import socket
import sys
import time

HELD = 12000  # sockets in flight at once: most of the range, so a port freed by someone else is soon taken


def main() -> None:
    """Churn until the given number of seconds has passed."""
    deadline = time.monotonic() + float(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4 * HELD)), hard))
    server = socket.create_server(("127.0.0.1", 0), backlog=4096)
    server.setblocking(False)
    target = server.getsockname()
    held: collections.deque[socket.socket] = collections.deque()
    print("ready", flush=True)
    while time.monotonic() < deadline:
        for _ in range(50):
            listener = socket.socket()
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            held.append(listener)
            client = socket.socket()
            client.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                client.connect(target)
            held.append(client)
        with contextlib.suppress(BlockingIOError):
            while True:
                held.append(server.accept()[0])
        while len(held) > HELD:
            held.popleft().close()
        time.sleep(0.001)


if __name__ == "__main__":
    main()
