"""An nginx reverse proxy for a registry that needs no client-side settings but ``--mirror`` (pure).

Unlike the seed's naive three locations, it rewrites what the client would otherwise have to:

- the ``realm`` of every Bearer challenge, to this proxy's ``/docker-auth/``;
- the ``Location`` of every redirect from the registry (blob CDN URLs), to ``/docker-blob/``;
- and it never forwards ``Authorization`` to the CDN (S3 would answer 400).

Blobs stream through unbuffered with no temp-file cap, so large layers are not cut short.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ..http.endpoints import normalize_base

HUB_REGISTRY = "https://registry-1.docker.io"
HUB_AUTH = "https://auth.docker.io"
HUB_BLOBS = "https://production.cloudflare.docker.com"


@dataclass(frozen=True)
class ProxyUpstreams:
    """The three upstreams and the port to listen on."""

    registry: str = HUB_REGISTRY
    auth: str = HUB_AUTH
    blob: str = HUB_BLOBS
    listen: str = "8080"

    @classmethod
    def create(cls, registry: str, auth: str, blob: str, listen: str) -> ProxyUpstreams:
        """Upstreams from loose values (``host[:port]`` means https)."""
        return cls(
            normalize_base(registry, insecure=False, what="the registry upstream"),
            normalize_base(auth, insecure=False, what="the auth upstream"),
            normalize_base(blob, insecure=False, what="the blob upstream"),
            listen,
        )


_REALM_MAP = r"""map $upstream_http_www_authenticate $regkit_www_authenticate {
    "~^(?<regkit_pre>.*realm=\")https?://[^/\"]+(?<regkit_post>.*)$" "${regkit_pre}$scheme://$http_host/docker-auth${regkit_post}";
    default $upstream_http_www_authenticate;
}
"""


def _upstream(url: str) -> str:
    """proxy_pass settings for an upstream URL: its Host, and SNI for https."""
    parts = urlsplit(url)
    lines = [f"proxy_set_header Host {parts.netloc};"]
    if parts.scheme == "https":
        lines.append("proxy_ssl_server_name on;")
    return "\n            ".join(lines)


def _registry_location(path: str, upstreams: ProxyUpstreams) -> str:
    target = f"{upstreams.registry}/" if path.endswith("/") and path != "/v2/" else upstreams.registry
    return f"""
        location {path} {{
            proxy_pass {target};
            {_upstream(upstreams.registry)}
            # Challenges send clients to this proxy's token location instead of the auth host.
            proxy_hide_header WWW-Authenticate;
            add_header WWW-Authenticate $regkit_www_authenticate always;
            # Redirects (blob downloads) go to this proxy's CDN location, path and signed query kept.
            proxy_redirect ~^https?://[^/]+(/.*)$ $scheme://$http_host/docker-blob$1;
        }}"""


def nginx_config(upstreams: ProxyUpstreams, *, full: bool = False) -> str:
    """The config: ``map`` + ``server`` for an ``http {}`` include, or a whole nginx.conf with ``full``."""
    server = f"""{_REALM_MAP}
server {{
        listen {upstreams.listen};
        client_max_body_size 0;
        gzip off;
        proxy_http_version 1.1;
        proxy_buffering off;
        proxy_request_buffering off;
        proxy_max_temp_file_size 0;
{_registry_location("/v2/", upstreams)}
{_registry_location("/docker-registry/", upstreams)}
        location /docker-auth/ {{
            proxy_pass {upstreams.auth}/;
            {_upstream(upstreams.auth)}
        }}
        location /docker-blob/ {{
            proxy_pass {upstreams.blob}/;
            {_upstream(upstreams.blob)}
            # The CDN accepts its signed URL and nothing else: never the registry's token.
            proxy_set_header Authorization "";
        }}
}}
"""
    if not full:
        return server
    indented = "".join(f"    {line}\n" if line else "\n" for line in server.splitlines())
    return f"worker_processes 1;\nevents {{ worker_connections 512; }}\nhttp {{\n{indented}}}\n"
