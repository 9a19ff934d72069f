"""Signed storage URLs as the dialects' storage hosts hand them out, and each storage's rules for checking them.

Facts from ``/work/shared/notes/registry-dialects.md`` ("Blobs and storage hosts"): S3 presigned URLs
carry ``X-Amz-*`` query keys (ECR's add ``X-Amz-Security-Token``), are signed for one method (a HEAD
on a GET-signed URL is 403, moby#50065, distribution#2055), expire, and refuse a second auth
mechanism with ``400 InvalidArgument`` (renovate#3877); Azure SAS URLs carry ``sv, se, sr, sp, sig``;
GitLab's Google CDN signed URLs ``Expires, KeyName, Signature``; Artifact Registry answers a
relative ``/artifacts-downloads/…`` path on its own host with an opaque token in it. The signatures
are the lab's own HMACs over the same inputs (the real algorithms need the real keys).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from .cdn import cdn_path
from .dialectcreds import same

S3_ONE_AUTH_MESSAGE = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
    "string parameter or the Authorization header should be specified"
)
AMZ_ALGORITHM = "AWS4-HMAC-SHA256"
SAS_VERSION = "2021-08-06"
GAR_DOWNLOADS = "/artifacts-downloads/namespaces/regkit-lab/repositories"


@dataclass(frozen=True)
class Refusal:
    """What a storage host answers instead of the blob."""

    status: int
    body: str
    content_type: str = "application/xml"


def _mac(secret: str, *parts: object) -> str:
    return hmac.new(secret.encode(), "\n".join(map(str, parts)).encode(), hashlib.sha256).hexdigest()


def _amz_date(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _s3_error(code: str, message: str) -> Refusal:
    return Refusal(
        403 if code != "InvalidArgument" else 400, f"<Error><Code>{code}</Code><Message>{message}</Message></Error>\n"
    )


def signed_location(
    kind: str,
    base: str,
    hex_digest: str,
    secret: str,
    ttl: int,
    *,
    extras: tuple[str, ...] = (),
    now: float | None = None,
) -> str:
    """The URL a blob GET is redirected to, for storage ``kind`` (s3, azure or gcs) at ``base``.

    ``extras`` names query keys some registries add: ``X-Amz-Security-Token`` (ECR's temporary
    credentials), ``akamai_signature`` (Quay's CDN), ``spr`` (the SAS protocol, GHCR).
    """
    at = int(time.time() if now is None else now)
    path = cdn_path(hex_digest)
    expires = at + ttl
    if kind == "s3":
        query = {
            "X-Amz-Algorithm": AMZ_ALGORITHM,
            "X-Amz-Credential": f"AKIAREGKITLAB/{_amz_date(at)[:8]}/us-east-1/s3/aws4_request",
            "X-Amz-Date": _amz_date(at),
            "X-Amz-Expires": str(ttl),
            "X-Amz-SignedHeaders": "host",
        }
        if "X-Amz-Security-Token" in extras:
            query["X-Amz-Security-Token"] = base64.b64encode(_mac(secret, "sts", at).encode()).decode()
        query["X-Amz-Signature"] = _mac(secret, "GET", path, query["X-Amz-Date"], ttl)
        if "akamai_signature" in extras:
            query["akamai_signature"] = f"exp={expires}~hmac={_mac(secret, 'akamai', path, expires)}"
    elif kind == "azure":
        se = datetime.fromtimestamp(expires, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        sig = base64.b64encode(bytes.fromhex(_mac(secret, "r", path, se))).decode()
        query = {"sv": SAS_VERSION, "se": se, "sr": "b", "sp": "r", **({"spr": "https"} if "spr" in extras else {})}
        query["sig"] = sig
    elif kind == "gcs":
        sig = base64.urlsafe_b64encode(bytes.fromhex(_mac(secret, path, expires))).decode()
        query = {"Expires": str(expires), "KeyName": "regkit-lab", "Signature": sig}
    else:
        raise ValueError(f"no signed URLs for storage {kind!r}")
    return f"{base}{path}?{urlencode(query)}"


def check_signed(
    kind: str, method: str, path: str, query: dict[str, str], authorization: bool, secret: str, now: float | None = None
) -> Refusal | None:
    """None when the storage serves ``path`` to this request, else what it answers instead."""
    at = time.time() if now is None else now
    if kind == "s3":
        if authorization and "X-Amz-Algorithm" in query:
            return Refusal(
                400,
                f"<Error><Code>InvalidArgument</Code><Message>{S3_ONE_AUTH_MESSAGE}</Message><ArgumentName>Authorization</ArgumentName></Error>\n",
            )
        try:
            signed_at = (
                datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
            )
            ttl = int(query["X-Amz-Expires"])
            good = same(query["X-Amz-Signature"], _mac(secret, method, path, query["X-Amz-Date"], ttl))
        except (KeyError, ValueError):
            return _s3_error(
                "AccessDenied",
                "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters",
            )
        if not good:
            # The signature covers the method: a HEAD on a GET-signed URL lands here.
            return _s3_error(
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )
        if at > signed_at + ttl:
            return _s3_error("AccessDenied", "Request has expired")
        return None
    if kind == "azure":
        try:
            expiry = datetime.strptime(query["se"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
            good = same(base64.b64decode(query["sig"]).hex(), _mac(secret, query["sp"], path, query["se"]))
        except (KeyError, ValueError):
            good, expiry = False, 0.0
        if not good or at > expiry:
            detail = "Signature not valid in the specified time frame" if good else "Signature did not match"
            return Refusal(
                403,
                "<Error><Code>AuthenticationFailed</Code><Message>Server failed to authenticate the request. Make sure "
                "the value of Authorization header is formed correctly including the signature.</Message>"
                f"<AuthenticationErrorDetail>{detail}</AuthenticationErrorDetail></Error>\n",
            )
        return None
    try:
        expires = int(query["Expires"])
        good = same(base64.urlsafe_b64decode(query["Signature"]).hex(), _mac(secret, path, expires))
    except (KeyError, ValueError):
        good, expires = False, 0
    if not good or at > expires:
        return Refusal(403, "Forbidden\n", "text/plain")
    return None


def gar_download(repository: str, hex_digest: str, secret: str, ttl: int, now: float | None = None) -> str:
    """Artifact Registry's relative Location: an opaque download token on the registry's own host."""
    expires = int(time.time() if now is None else now) + ttl
    opaque = base64.urlsafe_b64encode(json.dumps([hex_digest, expires]).encode()).decode().rstrip("=")
    return f"{GAR_DOWNLOADS}/{quote(repository, safe='')}/downloads/{opaque}.{_mac(secret, opaque)[:32]}"


def gar_blob(path: str, secret: str, now: float | None = None) -> str | None:
    """The hex digest an ``/artifacts-downloads/`` path grants, or None when it is forged or expired."""
    opaque, _, mac = path.rsplit("/", 1)[-1].partition(".")
    if not same(mac, _mac(secret, opaque)[:32]):
        return None
    hex_digest, expires = json.loads(base64.urlsafe_b64decode(opaque + "=" * (-len(opaque) % 4)))
    return str(hex_digest) if (time.time() if now is None else now) <= expires else None
