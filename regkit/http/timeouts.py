"""How long a server may take: the defaults and the bound, apart from the client so the CLI reads them cheaply.

Pure constants, no imports: ``regkit --help`` shows them without loading the client, :mod:`.retry` or :mod:`.speed`.
"""

from __future__ import annotations

# (connect, read) seconds; read is between bytes, not the whole body. None means no limit.
DEFAULT_TIMEOUT: tuple[float, float | None] = (10.0, 60.0)
# Longer than any wait worth configuring; beyond it the socket layer overflows (1e20 s).
MAX_TIMEOUT = 1e6
# Seconds one request may spend waiting for its retries in total (:class:`~regkit.http.retry.RetryPolicy`).
DEFAULT_MAX_WAIT = 60.0
# The low-speed rule (:class:`~regkit.http.speed.SpeedLimit`): below this many bytes per second for this long fails.
DEFAULT_MIN_SPEED = 1024
DEFAULT_SPEED_TIME = 60.0
