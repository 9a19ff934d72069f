"""The lab's nginx: the registry front, the CDN, the seed's naive reverse proxy and the generated one, in one config."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..diagnosis.proxyconfig import ProxyUpstreams, nginx_config
from .dialects import Dialect
from .process import ManagedProcess, tcp_probe
from .signedurls import S3_ONE_AUTH_MESSAGE

NGINX = Path("/usr/sbin/nginx")

# What S3 answers when a presigned URL also carries an Authorization header; like S3, it echoes
# the header's value back, which is why regkit scrubs what it sent out of every error body.
S3_ONE_AUTH = (
    '<?xml version="1.0" encoding="UTF-8"?>\\n<Error><Code>InvalidArgument</Code>'
    f"<Message>{S3_ONE_AUTH_MESSAGE}</Message>"
    "<ArgumentName>Authorization</ArgumentName><ArgumentValue>$http_authorization</ArgumentValue></Error>\\n"
)


@dataclass(frozen=True)
class NginxPorts:
    """Where each part listens, and where the registry and the Python service are."""

    front: int
    cdn: int
    proxy: int
    registry: int
    token: int
    edge: int
    forward: int
    tls: int
    gateway: int


@dataclass(frozen=True)
class DialectPorts:
    """A dialect lab's ports: the registry host, the storage host, the token host, the front and docker-registry."""

    front: int
    storage: int
    auth: int
    service: int
    registry: int


def _common(state: Path) -> str:
    temp = state / "tmp"
    # Root's workers must read the registry's storage (root-owned, possibly under /root).
    user = "user root;\n" if os.geteuid() == 0 else ""
    return f"""{user}worker_processes 1;
error_log {state}/error.log info;
pid {state}/nginx-master.pid;
events {{ worker_connections 512; }}
http {{
    default_type application/octet-stream;
    # Whether a request carried Authorization, never its value: tests read this from the log.
    map $http_authorization $lab_has_auth {{ "" no; default yes; }}
    map $http_cookie $lab_has_cookie {{ "" no; default yes; }}
    # Artifact Registry's download paths carry an opaque token: logged without it.
    map $uri $lab_uri {{ "~^(?<kept>/artifacts-downloads/.*/downloads/)" "${{kept}}<download token>"; default $uri; }}
    log_format lab '$server_port $request_method $lab_uri $status $body_bytes_sent '
                   'cookie=$lab_has_cookie auth=$lab_has_auth';
    access_log {state}/access.log lab;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    client_max_body_size 0;
    proxy_http_version 1.1;
"""


def _front(ports: NginxPorts) -> str:
    """registry-1.docker.io: blob GETs go to the edge (307 to the CDN), everything else to the registry."""
    return f"""
    server {{
        listen 127.0.0.1:{ports.front};
        proxy_set_header Host $http_host;
        proxy_request_buffering off;
        location ~ "^/v2/.+/blobs/sha256:[a-f0-9]{{64}}$" {{
            if ($request_method = GET) {{
                proxy_pass http://127.0.0.1:{ports.edge};
            }}
            proxy_pass http://127.0.0.1:{ports.registry};
        }}
        location / {{
            proxy_pass http://127.0.0.1:{ports.registry};
        }}
    }}
"""


def _cdn(ports: NginxPorts, storage: Path, secret: str, rate: int = 0) -> str:
    """The blob CDN: signed, expiring URLs (secure_link); like S3, no Authorization header allowed.

    ``rate`` (bytes per second, 0 for none) caps each response, as one long-haul TCP connection is capped.
    """
    limit = f"limit_rate {rate};" if rate else ""
    return f"""
    server {{
        listen 127.0.0.1:{ports.cdn};
        location /registry-v2/ {{
            default_type application/xml;
            if ($http_authorization) {{
                return 400 '{S3_ONE_AUTH}';
            }}
            secure_link $arg_md5,$arg_expires;
            secure_link_md5 "$secure_link_expires$uri {secret}";
            if ($secure_link = "") {{
                return 403 '<Error><Code>AccessDenied</Code><Message>Invalid signature</Message></Error>\\n';
            }}
            if ($secure_link = "0") {{
                return 403 '<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>\\n';
            }}
            # Checked: serve the file from a location whose default type is not XML.
            rewrite ^/registry-v2/(.*)$ /_blobs/$1 last;
        }}
        location /_blobs/ {{
            internal;
            types {{ }}
            default_type application/octet-stream;
            alias {storage}/;
            {limit}
        }}
    }}
"""


def _seed_proxy(ports: NginxPorts) -> str:
    """The seed's three locations, naive on purpose: realm and redirect Location pass through unchanged."""
    return f"""
    server {{
        listen 127.0.0.1:{ports.proxy};
        proxy_redirect off;
        # Like a load balancer's session cookie: a client with a cookie jar would carry it to the CDN hop.
        add_header Set-Cookie "lab_session=seed-proxy; Path=/" always;
        location ~ ^/docker-auth/ {{
            rewrite /docker-auth/(.+) /$1 break;
            proxy_pass http://127.0.0.1:{ports.token};
        }}
        location ~ ^/docker-registry/ {{
            rewrite /docker-registry/(.+) /$1 break;
            proxy_pass http://127.0.0.1:{ports.front};
        }}
        location ~ ^/docker-blob/ {{
            rewrite /docker-blob/(.+) /$1 break;
            proxy_pass http://127.0.0.1:{ports.cdn};
        }}
    }}
"""


def _forward_proxy(ports: NginxPorts) -> str:
    """A plain-HTTP forward proxy (like a corporate HTTP_PROXY) that only reaches loopback addresses."""
    return f"""
    server {{
        listen 127.0.0.1:{ports.forward};
        location / {{
            if ($host !~ "^(127\\.0\\.0\\.1|localhost)$") {{
                return 403 "this lab proxy only forwards to loopback\\n";
            }}
            proxy_pass http://$http_host$request_uri;
        }}
    }}
"""


def _tls_front(ports: NginxPorts, tls: Path) -> str:
    """The registry front over TLS, with a self-signed certificate: for TLS lessons and errors."""
    return f"""
    server {{
        listen 127.0.0.1:{ports.tls} ssl;
        ssl_certificate {tls}/cert.pem;
        ssl_certificate_key {tls}/key.pem;
        location / {{
            proxy_set_header Host $http_host;
            proxy_pass http://127.0.0.1:{ports.front};
        }}
    }}
"""


def _gateway(ports: NginxPorts) -> str:
    """What ``regkit proxy-config nginx`` writes for this registry: realm and redirects rewritten to itself."""
    upstreams = ProxyUpstreams(
        registry=f"http://127.0.0.1:{ports.front}",
        auth=f"http://127.0.0.1:{ports.token}",
        blob=f"http://127.0.0.1:{ports.cdn}",
        listen=f"127.0.0.1:{ports.gateway}",
    )
    return "".join(f"    {line}\n" if line else "\n" for line in nginx_config(upstreams).splitlines())


def lab_config(state: Path, ports: NginxPorts, storage: Path, secret: str, tls: Path, cdn_rate: int = 0) -> str:
    """The whole nginx.conf of the lab."""
    parts = (
        _common(state),
        _front(ports),
        _cdn(ports, storage, secret, cdn_rate),
        _seed_proxy(ports),
        _forward_proxy(ports),
        _tls_front(ports, tls),
        _gateway(ports),
    )
    return "".join(parts) + "}\n"


def mutual_tls_config(state: Path, port: int, upstream: int, tls: Path, client_ca: Path) -> str:
    """A whole nginx.conf: TLS on ``port`` that requires a client certificate signed by ``client_ca``."""
    return (
        _common(state)
        + f"""
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {tls}/cert.pem;
        ssl_certificate_key {tls}/key.pem;
        ssl_verify_client on;
        ssl_client_certificate {client_ca};
        location / {{
            proxy_set_header Host $http_host;
            proxy_pass http://127.0.0.1:{upstream};
        }}
    }}
}}
"""
    )


def write_config(state: Path, config_text: str) -> Path:
    """Write nginx.conf and the temp directories it names."""
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (state / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    config = state / "nginx.conf"
    config.write_text(config_text)
    return config


def nginx_process(state: Path, ports: Sequence[int]) -> ManagedProcess:
    """nginx in the foreground with its own prefix and config (written by :func:`write_config`), on ``ports``."""
    argv = [str(NGINX), "-p", str(state), "-c", str(state / "nginx.conf"), "-g", "daemon off;"]
    return ManagedProcess("nginx", argv, state, ready=tcp_probe(ports[0]), ports=ports)


def dialect_config(
    state: Path, dialect: Dialect, ports: DialectPorts, storage: Path, storage_headers: dict[str, str]
) -> str:
    """A whole nginx.conf for a dialect lab: registry host, storage host and (GitLab) token host, all via the front.

    The front (:mod:`regkit.lab.dialectfront`) answers or names an internal location in
    ``X-Accel-Redirect``: ``/_registry/`` is docker-registry, ``/_blobs/`` the registry's storage.
    """
    front = f"http://127.0.0.1:{ports.service}"
    blobs = f"""
        location /_blobs/ {{
            internal;
            types {{ }}
            default_type application/octet-stream;
            alias {storage}/;
{"".join(f'            add_header {name} "{value}";' + chr(10) for name, value in storage_headers.items())}        }}"""
    servers = f"""
    server {{
        listen 127.0.0.1:{ports.front};
        proxy_set_header Host $http_host;
        proxy_set_header X-Lab-Role front;
        location / {{
            proxy_pass {front};
        }}
        location /_registry/ {{
            internal;
            rewrite ^/_registry/(.*)$ /$1 break;
            proxy_pass http://127.0.0.1:{ports.registry};
        }}{blobs if dialect.redirect == "relative" else ""}
    }}
    server {{
        listen 127.0.0.1:{ports.storage};
        proxy_set_header Host $http_host;
        proxy_set_header X-Lab-Role storage;
        location / {{
            proxy_pass {front};
        }}{blobs}
    }}
"""
    if dialect.auth_host:
        servers += f"""
    server {{
        listen 127.0.0.1:{ports.auth};
        proxy_set_header Host $http_host;
        proxy_set_header X-Lab-Role auth;
        location / {{
            proxy_pass {front};
        }}
    }}
"""
    return _common(state) + servers + "}\n"
