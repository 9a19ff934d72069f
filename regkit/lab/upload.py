"""Pushing blobs and manifests (the reverse of a pull), for seeding test registries and labs."""

from __future__ import annotations

from urllib.parse import urljoin

from ..errors import DigestMismatch, UnexpectedResponse
from ..http.client import Client
from ..http.httperrors import error_for
from ..oci.digest import Digest
from ..oci.reference import Reference
from ..steps.auth import Token, token_from_challenge
from ..steps.fetcher import Fetcher
from .imagebuild import BuiltImage


def push_token(client: Client, ref: Reference) -> Token:
    """A token allowed to push to ``ref``'s repository (probing ``/v2/`` for the challenge)."""
    url, meant = client.endpoint(ref)
    probe = client.send("push", "GET", url, original_url=meant)
    probe.close()
    if probe.status != 401:
        return Token("none", exchanges=(probe.exchange,))
    return token_from_challenge(client, ref, probe.exchange, scope=f"repository:{ref.repository}:pull,push")


def push_blob(client: Client, ref: Reference, token: Token, data: bytes) -> Digest:
    """Upload one blob (monolithic POST then PUT), skipping it when the registry already has it."""
    digest = Digest.of(data)
    fetcher = Fetcher(client, ref, token=token)
    url, meant = client.registry_url(ref, f"blobs/{digest}")
    head = fetcher.send("push", "HEAD", url, meant, {})
    head.close()
    if head.status == 200:
        return digest
    url, meant = client.registry_url(ref, "blobs/uploads/")
    start = fetcher.send("push", "POST", url, meant, {})
    start.close()
    token = fetcher.last_token()
    location = start.headers.get("Location")
    if start.status != 202 or not location:
        raise error_for(start, f"starting the upload of {digest}")
    try:
        target = urljoin(start.raw.url, location)
    except ValueError:
        raise UnexpectedResponse("upload session with a malformed Location", exchange=start.exchange) from None
    target += ("&" if "?" in target else "?") + f"digest={digest}"
    response = client.send(
        "push", "PUT", target, data=data, headers={**token.headers(), "Content-Type": "application/octet-stream"}
    )
    response.close()
    if response.status != 201:
        raise error_for(response, f"uploading blob {digest}")
    return digest


def push_manifest(client: Client, ref: Reference, token: Token, raw: bytes, media_type: str, identifier: str) -> Digest:
    """PUT a manifest under a tag or digest and check the digest the registry computed."""
    url, meant = client.registry_url(ref, f"manifests/{identifier}")
    client_digest = Digest.of(raw)
    response = client.send(
        "push", "PUT", url, data=raw, headers={**token.headers(), "Content-Type": media_type}, original_url=meant
    )
    response.close()
    if response.status != 201:
        raise error_for(response, f"pushing manifest {ref.repository}:{identifier}")
    claimed = response.headers.get("Docker-Content-Digest")
    if claimed and claimed != str(client_digest):
        raise DigestMismatch(
            f"the registry stored the manifest as {claimed}, not {client_digest}", exchange=response.exchange
        )
    return client_digest


def push_image(client: Client, ref: Reference, image: BuiltImage, token: Token | None = None) -> Digest:
    """Push an image or index (children first) and tag it with ``ref``'s tag, or by digest."""
    token = token or push_token(client, ref)
    for child in image.children:
        push_image(client, ref.with_digest(child.digest), child, token)
    for data in image.blobs.values():
        push_blob(client, ref, token, data)
    identifier = ref.tag if ref.tag and not ref.digest else str(image.digest)
    digest = push_manifest(client, ref, token, image.manifest, image.media_type, identifier)
    if ref.digest and ref.digest != digest:
        raise UnexpectedResponse(f"pushed manifest {digest} but the reference pins {ref.digest}")
    return digest
