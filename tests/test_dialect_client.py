"""The client against other registries' dialects: identity tokens, 60 s tokens, storage hops, denials, deadlines."""

from __future__ import annotations

import threading
import time

import pytest

from regkit.errors import TransportError
from regkit.http.transport import Transport

from .helpers import Canned, serving


class Drip(Canned):
    """Answers every request with interim responses (or a header a line at a time) that never end.

    No registry does this on purpose; a broken proxy or a hostile server can, and no real server can
    be made to: a hand-written socket server, on purpose. It stops after 30 s or once the client hangs up.
    """

    def do_GET(self) -> None:
        first, line = (
            (b"", b"HTTP/1.1 100 Continue\r\n\r\n")
            if self.path.startswith("/continue")
            else (b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n")
        )
        self.close_connection = True
        give_up = time.monotonic() + 30
        try:
            self.wfile.write(first)
            while time.monotonic() < give_up:
                self.wfile.write(line)
                self.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client cut it off: the point of the test


def _timed_send(url: str, timeout: tuple[float, float]) -> tuple[BaseException | None, float]:
    """Send ``url`` on a thread (old code would wait forever); the error and the seconds it took."""
    outcome: list[BaseException | None] = []
    transport = Transport(timeout=timeout)

    def run() -> None:
        try:
            transport.send("probe", "GET", url).close()
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    start = time.monotonic()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(15)
    took = time.monotonic() - start
    transport.close()
    assert outcome, f"the request was still waiting for its headers after {took:.0f} s"
    return outcome[0], took


@pytest.mark.parametrize("path", ["/continue", "/headers"])
def test_headers_that_never_finish_are_cut_off_at_the_budget(path):
    with serving(Drip) as host:
        error, took = _timed_send(f"http://{host}{path}", (1.0, 1.0))
    assert isinstance(error, TransportError), error
    assert error.kind == "header-timeout"
    assert host in error.message and "within 2 s" in error.message, error.message
    if path == "/continue":
        assert "interim 1xx" in error.message
    assert error.exchange is not None and error.exchange.error == error.message
    assert "timeout" in (error.hint or "")
    assert 1.9 < took < 5, took


def test_interim_responses_within_the_budget_are_fine():
    class Brief(Canned):
        def do_GET(self) -> None:
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n" * 3)
            self.answer(200, b"ok", {"Content-Type": "text/plain"})

    with serving(Brief) as host:
        error, _ = _timed_send(f"http://{host}/", (1.0, 1.0))
    assert error is None


def test_the_deadline_leaves_the_connection_pool_working(registry):
    # A real registry over the same transport: keep-alive connections, several requests, no watchdog firing.
    transport = Transport(timeout=(0.5, 0.5))
    try:
        for _ in range(20):
            response = transport.send("probe", "GET", f"http://{registry.host}/v2/")
            assert response.status == 200
            response.read(1 << 16, "the body")
        time.sleep(1.2)  # past every deadline: a stale watch must not shut a pooled socket down
        response = transport.send("probe", "GET", f"http://{registry.host}/v2/")
        assert response.status == 200 and response.exchange.attempt == 1
        response.close()
    finally:
        transport.close()
