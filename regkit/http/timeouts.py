"""How long a server may take: the defaults and the bound, apart from the client so the CLI reads them cheaply."""

from __future__ import annotations

# (connect, read) seconds; read is between bytes, not the whole body. None means no limit.
DEFAULT_TIMEOUT: tuple[float, float | None] = (10.0, 60.0)
# Longer than any wait worth configuring; beyond it the socket layer overflows (1e20 s).
MAX_TIMEOUT = 1e6
