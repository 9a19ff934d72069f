"""A dialect's authentication surface, blob redirects, tag paging and storage rules: the lab's front of its own.

nginx sends every request on the dialect's registry host, storage host and (GitLab) token host here,
saying which in ``X-Lab-Role``. The front answers challenges, tokens, denials, tag lists and
redirects itself; what the registry serves (``/v2/``, manifests, blob HEADs) and what the storage
serves (blob files) it hands back to nginx with ``X-Accel-Redirect``, so docker-registry and nginx
send the bytes. Facts: ``/work/shared/notes/registry-dialects.md``, via :mod:`regkit.lab.dialects`.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from . import dialectcreds as creds
from .dialects import ACR_NULL_USER, DIALECTS, ECR_USER, GAR_KEY_USER, GAR_TOKEN_USER, Dialect
from .dialecttags import page_tags
from .signedurls import GAR_DOWNLOADS, check_signed, gar_blob, gar_download, signed_location

_REPO_PATH = re.compile(r"/v2/(?P<name>[a-z0-9._/-]+?)/(?P<kind>manifests|blobs|tags)/(?P<rest>.+)")
_BLOB = re.compile(r"sha256:(?P<hex>[a-f0-9]{64})")
ECR_EXPIRED = "Your authorization token has expired. Reauthenticate and try again."
# ACR's answer to an anonymous token request when anonymous pull is off.
ACR_ANONYMOUS = "authentication required, visit https://aka.ms/acr/authorization for more information."


@dataclass(frozen=True)
class FrontConfig:
    """What the lab tells the front: the dialect, its hosts, its secrets, and the registry behind it."""

    dialect: Dialect
    secret: str
    password: str
    json_key: str
    front: str  # host:port as clients address the registry
    storage: str  # host:port of the storage host
    auth: str  # host:port of the token host (GitLab), else the front
    registry: str  # base URL of docker-registry
    private: tuple[str, ...] = ("private",)
    stale_urls: str = ""  # a file counting redirects still to hand out already expired (DialectLab.expire_signed_urls)


_STALE_LOCK = threading.Lock()


def take_stale(path: str) -> bool:
    """Whether this redirect is one of those the lab was told to hand out expired (counting it down)."""
    if not path:
        return False
    with _STALE_LOCK:
        try:
            left = int(Path(path).read_text())
        except (OSError, ValueError):
            return False
        if left <= 0:
            return False
        Path(path).write_text(str(left - 1))
        return True


def errors_body(code: str, message: str, detail: Any = None) -> bytes:
    """Distribution's error document."""
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return json.dumps({"errors": [error]}).encode()


def check_login(config: FrontConfig, user: str, password: str) -> str:
    """VALID, EXPIRED or INVALID for a user and password in this dialect's shapes."""
    d = config.dialect
    if d.name == "ecr":
        return creds.check("ecr", config.secret, password) if user == ECR_USER else creds.INVALID
    if d.name == "gar":
        if user == GAR_TOKEN_USER:
            return creds.check("gar", config.secret, password)
        keys = {GAR_KEY_USER: config.json_key, "_json_key_base64": base64.b64encode(config.json_key.encode()).decode()}
        good = user in keys and creds.same(password, keys[user])
        return creds.VALID if good else creds.INVALID
    if d.name == "acr":
        return creds.check("acr", config.secret, password) if user == ACR_NULL_USER else creds.INVALID
    good = user == d.user and creds.same(password, config.password)
    return creds.VALID if good else creds.INVALID


def make_front_handler(config: FrontConfig) -> type[BaseHTTPRequestHandler]:
    """The handler class of the front, bound to ``config``."""
    d = config.dialect
    session = requests.Session()
    session.trust_env = False  # the registry is on loopback; never through a proxy

    class Handler(BaseHTTPRequestHandler):
        server_version = f"regkit-lab-{d.name}/1"
        protocol_version = "HTTP/1.1"

        # -- plumbing ------------------------------------------------------------------------------

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(doc).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(
            self, status: int, code: str, message: str, headers: dict[str, str] | None = None, detail: Any = None
        ) -> None:
            body = errors_body(code, message, detail)
            self._send(status, body, {"Content-Type": "application/json; charset=utf-8", **(headers or {})})

        def _accel(self, target: str) -> None:
            """Let nginx serve ``target`` (an internal location) for this request."""
            self._send(200, b"", {"X-Accel-Redirect": target})

        def _form(self) -> dict[str, str]:
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode(errors="replace")) if length else {}
            return {key: values[0] for key, values in form.items()}

        def log_message(self, format: str, *args: Any) -> None:
            # The request line carries signed query strings: log the path only, and no download token.
            path = urlsplit(self.path).path
            if path.startswith(GAR_DOWNLOADS + "/"):
                path = path.rsplit("/", 1)[0] + "/<download token>"
            sys.stderr.write(f"{d.name} {self.command} {path} {args[1] if len(args) > 1 else ''}\n")

        # -- dispatch ------------------------------------------------------------------------------

        def do_GET(self) -> None:
            self._dispatch()

        def do_HEAD(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            if d.name == "acr" and url.path == "/oauth2/token":
                self._acr_post_token(self._form())
            elif d.name == "acr" and url.path == "/oauth2/exchange":
                self._acr_exchange(self._form())
            elif d.scheme == "Bearer" and url.path == d.realm_path:
                # A token service that speaks only GET, as distribution's token spec describes it.
                self._error(405, "UNSUPPORTED", "the token service answers GET only", {"Allow": "GET"})
            else:
                self._error(405 if url.path.startswith("/v2/") else 404, "UNSUPPORTED", "the lab serves pulls only")

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            role = self.headers.get("X-Lab-Role", "front")
            if role == "storage":
                self._storage(url.path, query)
            elif d.scheme == "Bearer" and url.path == d.realm_path and role == ("auth" if d.auth_host else "front"):
                self._token(parse_qs(url.query), self.headers.get("Authorization"))
            elif role == "auth":
                self._error(404, "NOT_FOUND", f"only {d.realm_path} is served here")
            elif d.redirect == "relative" and url.path.startswith(GAR_DOWNLOADS + "/"):
                self._gar_download(url.path)
            elif url.path == "/v2/":
                self._root()
            elif (match := _REPO_PATH.fullmatch(url.path)) is not None:
                self._repository(match["name"], match["kind"], match["rest"], query)
            else:
                self._error(404, "NOT_FOUND", "not a registry path")

        # -- challenges and authorization ----------------------------------------------------------

        def _challenge(self, scope: str | None, error: str | None = None) -> str:
            if d.scheme == "Basic":
                return f'Basic realm="http://{config.front}/",service="{d.service}"'
            parts = [f'realm="http://{config.auth}{d.realm_path}"']
            if scope is not None or d.root_service:
                service = d.service.format(host=config.front)
                parts.append(f'service="{service}"' if d.quote_service else f"service={service}")
            if scope is not None:
                parts.append(f'scope="{scope}"')
            if error:
                parts.append(f'error="{error}"')
            return "Bearer " + ",".join(parts)

        def _authorized(self, name: str | None) -> str:
            """VALID when the request may read ``name`` (None: any valid credential, for /v2/); else why not."""
            header = self.headers.get("Authorization")
            if d.scheme == "Basic":
                login = creds.basic_credentials(header)
                return check_login(config, *login) if login else creds.INVALID
            public = name is not None and name.split("/", 1)[0] not in config.private
            if not header and d.tokenless_public and public:
                return creds.VALID
            scheme, _, token = (header or "").partition(" ")
            access = creds.token_access(config.secret, token) if scheme.lower() == "bearer" else None
            if access is None:
                return creds.INVALID
            if name is None:
                return creds.VALID
            allowed = any(a.get("name") == name and "pull" in a.get("actions", ()) for a in access)
            return creds.VALID if allowed else "insufficient_scope"

        def _refuse(self, verdict: str, name: str | None) -> None:
            if verdict == creds.EXPIRED:
                # ECR's answer to an expired password (the only dialect that checks passwords here).
                self._error(403, "DENIED", ECR_EXPIRED)
                return
            scope = f"repository:{name}:pull" if name is not None else None
            challenge = self._challenge(scope, "insufficient_scope" if verdict == "insufficient_scope" else None)
            if name is None and d.root_body:
                self._send(
                    401, d.root_body.encode(), {"WWW-Authenticate": challenge, "Content-Type": "application/json"}
                )
                return
            detail = [{"Type": "repository", "Name": name, "Action": "pull"}] if name else None
            self._error(401, "UNAUTHORIZED", "authentication required", {"WWW-Authenticate": challenge}, detail)

        def _root(self) -> None:
            verdict = self._authorized(None)
            if verdict != creds.VALID:
                self._refuse(verdict, None)
                return
            self._accel("/_registry/v2/")

        def _repository(self, name: str, kind: str, rest: str, query: dict[str, str]) -> None:
            verdict = self._authorized(name)
            if verdict != creds.VALID:
                self._refuse(verdict, name)
                return
            if kind == "tags":
                if rest == "list":
                    self._tags(name, query)
                else:
                    self._error(404, "NOT_FOUND", "not a registry path")
                return
            blob = _BLOB.fullmatch(rest) if kind == "blobs" else None
            if blob is None or self.command == "HEAD":
                # Manifests, and blob HEADs (answered by the registry itself, as Quay does): docker-registry.
                self._accel(f"/_registry{self.path}")
                return
            head = session.head(f"{config.registry}/v2/{name}/blobs/{rest}", timeout=30)
            if head.status_code != 200:
                self._error(404, "BLOB_UNKNOWN", "blob unknown to registry", detail=rest)
                return
            self._redirect(name, blob["hex"])

        # -- redirects, storage --------------------------------------------------------------------

        def _redirect(self, name: str, hex_digest: str) -> None:
            # An expired URL is one signed a minute more than its lifetime ago (clock skew, a slow start).
            at = time.time() - d.url_ttl - 60 if take_stale(config.stale_urls) else None
            if d.redirect == "relative":
                location = gar_download(name, hex_digest, config.secret, d.url_ttl, now=at)
            else:
                base = f"http://{config.storage}"
                location = signed_location(
                    d.redirect, base, hex_digest, config.secret, d.url_ttl, extras=d.signed_extras, now=at
                )
            headers = {"Location": location, "Docker-Distribution-API-Version": "registry/2.0"}
            if d.digest_on_redirect:
                headers["Docker-Content-Digest"] = f"sha256:{hex_digest}"
            self._send(d.redirect_status, b"", headers)

        def _gar_download(self, path: str) -> None:
            hex_digest = gar_blob(path, config.secret)
            if hex_digest is None:
                self._error(403, "DENIED", "the download link is invalid or expired")
                return
            self._accel(f"/_blobs/docker/registry/v2/blobs/sha256/{hex_digest[:2]}/{hex_digest}/data")

        def _storage(self, path: str, query: dict[str, str]) -> None:
            if not path.startswith("/registry-v2/"):
                self._send(404, b"Not Found\n", {"Content-Type": "text/plain"})
                return
            authorization = bool(self.headers.get("Authorization"))
            refusal = check_signed(d.redirect, self.command, path, query, authorization, config.secret)
            if refusal is not None:
                self._send(refusal.status, refusal.body.encode(), {"Content-Type": refusal.content_type})
                return
            self._accel("/_blobs" + path.removeprefix("/registry-v2"))

        # -- tags ----------------------------------------------------------------------------------

        def _tags(self, name: str, query: dict[str, str]) -> None:
            answer = session.get(f"{config.registry}/v2/{name}/tags/list", timeout=30)
            if answer.status_code != 200:
                self._send(answer.status_code, answer.content, {"Content-Type": "application/json"})
                return
            tags = sorted(answer.json().get("tags") or [])
            page = page_tags(d, config.secret, name, tags, query)
            if page.status != 200:
                self._error(page.status, page.code, page.message)
                return
            self._json(200, page.doc, {"Link": page.link} if page.link else {})

        # -- token services ------------------------------------------------------------------------

        def _token(self, query: dict[str, list[str]], header: str | None) -> None:
            service = (query.get("service") or [""])[0]
            expected = d.service.format(host=config.front)
            if service and service != expected:
                self._error(400, "INVALID_SERVICE", f"unknown service {service!r}")
                return
            login = creds.basic_credentials(header)
            if header and login is None:
                self._error(401, "UNAUTHORIZED", "only Basic credentials are accepted here")
                return
            user = None
            if login is not None:
                verdict = check_login(config, *login)
                if verdict != creds.VALID:
                    # Wording: the lab's; an expired access token says so, for diagnosis to name it.
                    expired = verdict == creds.EXPIRED
                    self._error(
                        401, "UNAUTHORIZED", "the token has expired" if expired else "invalid username or password"
                    )
                    return
                user = login[0]
            self._grant(user, query.get("scope", []))

        def _grant(self, user: str | None, scopes: list[str]) -> None:
            if user is None and not d.anonymous:
                self._error(401, "UNAUTHORIZED", ACR_ANONYMOUS)
                return
            access = []
            for scope in " ".join(scopes).split():
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                if kind != "repository" or not name:
                    continue
                if (refusal := self._scope_refused(name, actions)) is not None:
                    self._error(*refusal)
                    return
                if user is None and name.split("/", 1)[0] in config.private:
                    if d.deny_at_token:
                        # GHCR and Artifact Registry refuse at the token service instead of trimming the scope.
                        self._error(d.deny_status, "DENIED", d.deny_at_token.format(repository=name))
                        return
                    continue
                if "pull" in actions.split(","):
                    access.append({"type": "repository", "name": name, "actions": ["pull"]})
            token = creds.issue_token(config.secret, d.name, d.token_ttl, user or "", access)
            doc: dict[str, Any] = {field: token for field in d.token_fields}
            if d.expires_in is not None:
                doc["expires_in"] = d.expires_in
            if d.issued_at:
                doc["issued_at"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
            self._json(200, doc)

        def _scope_refused(self, name: str, actions: str) -> tuple[int, str, str] | None:
            """Status, code and message when the dialect refuses a whole token request for one scope."""
            if (
                d.scope_rule == "strict"
                and session.get(f"{config.registry}/v2/{name}/tags/list", timeout=30).status_code == 404
            ):
                # GHCR and Artifact Registry refuse an unknown (or extra) repository scope outright (containerd#9648).
                return d.deny_status, "DENIED", d.deny_at_token.format(repository=name)
            if d.scope_rule == "actions" and not set(actions.split(",")) <= {"pull", "push", "*"}:
                # Quay's scope grammar is strict: an action such as delete fails the request (message: the lab's).
                return 400, "UNSUPPORTED", f"invalid action in scope repository:{name}:{actions}"
            if d.scope_rule == "namespace" and "/" not in name:
                # Harbor needs a project in every repository name (harbor#11852; message: Harbor's usual words).
                return 401, "UNAUTHORIZED", f"unauthorized to access repository: {name}, action: pull"
            return None

        def _acr_post_token(self, form: dict[str, str]) -> None:
            """ACR's OAuth2 form: grant_type=refresh_token (the identity token) or password."""
            grant = form.get("grant_type")
            if grant == "refresh_token":
                ok = creds.check("acr", config.secret, form.get("refresh_token", "")) == creds.VALID
                user = ACR_NULL_USER
            elif grant == "password":
                user = form.get("username", "")
                ok = check_login(config, user, form.get("password", "")) == creds.VALID
            else:
                self._error(400, "UNSUPPORTED", f"grant_type {grant!r} is not supported")
                return
            if not ok:
                self._error(401, "UNAUTHORIZED", "the refresh token or password is invalid or expired")
                return
            if form.get("service") != d.service.format(host=config.front):
                self._error(400, "INVALID_SERVICE", f"unknown service {form.get('service')!r}")
                return
            self._grant(user, [form.get("scope", "")])

        def _acr_exchange(self, form: dict[str, str]) -> None:
            """``POST /oauth2/exchange``: an Azure AD access token becomes an ACR refresh token."""
            if (
                form.get("grant_type") != "access_token"
                or creds.check("aad", config.secret, form.get("access_token", "")) != creds.VALID
            ):
                self._error(401, "UNAUTHORIZED", "the AAD access token is invalid or expired")
                return
            self._json(200, {"refresh_token": creds.mint("acr", config.secret, time.time() + d.password_ttl)})

    return Handler


def main(argv: list[str] | None = None) -> None:
    """``python -m regkit.lab.dialectfront CONFIG.json PORTS.json``: serve the front until terminated."""
    args = sys.argv[1:] if argv is None else argv
    doc = json.loads(Path(args[0]).read_text())
    doc["dialect"] = DIALECTS[doc["dialect"]]
    doc["private"] = tuple(doc["private"])
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_front_handler(FrontConfig(**doc)))
    server.daemon_threads = True
    partial = Path(args[1]).with_suffix(".partial")
    partial.write_text(json.dumps({"service": server.server_address[1]}))
    os.replace(partial, args[1])
    server.serve_forever()


if __name__ == "__main__":
    main()
