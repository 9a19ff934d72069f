"""A pull-through cache: Debian's docker-registry in proxy mode (``proxy: remoteurl``) in front of another registry.

It fetches from upstream itself, with its own upstream credentials (``username``/``password``, used
for every client alike) or anonymously, and stores what it served. Clients talk to it without
credentials. docker-registry 2.8 asks the upstream's ``/v2/`` for the token realm when it starts,
so the upstream must answer by then, and the realm it names must be reachable from the cache.
"""

from __future__ import annotations

from pathlib import Path

from .registry import RegistryServer


def pull_through_cache(
    state_dir: Path,
    upstream: str,
    *,
    port: int | None = None,
    credentials: tuple[str, str] | None = None,
) -> RegistryServer:
    """A registry at ``state_dir`` that proxies ``upstream`` (a base URL), optionally with upstream credentials."""
    proxy = {"remoteurl": upstream}
    if credentials is not None:
        proxy["username"], proxy["password"] = credentials
    return RegistryServer(state_dir, port, extra_config={"proxy": proxy})
