"""Tag-list paging as each dialect does it: the spec's ``n``/``last`` with a ``Link``, ACR's extra
``orderby=``, and ECR's opaque ``last`` cursors with ``n`` capped at 1000 (go-containerregistry#681).

Facts from ``/work/shared/notes/registry-dialects.md`` ("Listing, referrers, quirks"). Pure: the
front (:mod:`regkit.lab.dialectfront`) fetches the whole list from docker-registry and pages it here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from .dialectcreds import b64url, same
from .dialects import Dialect

ECR_MAX_RESULTS = 1000
ECR_TOO_MANY = (
    "Invalid parameter at 'maxResults' failed to satisfy constraint: "
    "'member must have value less than or equal to 1000'"
)
_CURSOR_MAC = 16


@dataclass(frozen=True)
class TagPage:
    """What the front answers: a status, the error code or document, and the ``Link`` header if any."""

    status: int
    doc: dict[str, Any] = field(default_factory=dict)
    code: str = ""
    message: str = ""
    link: str = ""


def cursor(secret: str, index: int) -> str:
    """ECR-style opaque ``last``: the position and a MAC, so a rebuilt ``last=<tag>`` is refused."""
    raw = json.dumps([index]).encode()
    return b64url(raw + hmac.new(secret.encode(), raw, hashlib.sha256).digest()[:_CURSOR_MAC])


def _start(spec: Dialect, secret: str, tags: list[str], last: str | None) -> int | None:
    """Where the page starts after ``last``; None for a cursor this lab did not hand out."""
    if not last:
        return 0
    if spec.paging != "ecr":
        return sum(1 for tag in tags if tag <= last)
    try:
        raw = base64.urlsafe_b64decode(last + "=" * (-len(last) % 4))
        index = int(json.loads(raw[:-_CURSOR_MAC])[0])
    except (ValueError, IndexError, KeyError, TypeError):
        return None
    return index + 1 if same(last, cursor(secret, index)) else None


def _next(spec: Dialect, secret: str, name: str, tags: list[str], index: int, n: int) -> str:
    if spec.paging == "ecr":
        return f"/v2/{name}/tags/list?" + urlencode({"last": cursor(secret, index), "n": n})
    if spec.paging == "orderby":
        return f"/v2/{name}/tags/list?last={quote(tags[index])}&n={n}&orderby="
    return f"/v2/{name}/tags/list?" + urlencode({"last": tags[index], "n": n})


def page_tags(spec: Dialect, secret: str, name: str, tags: list[str], query: dict[str, str]) -> TagPage:
    """The page of ``tags`` (sorted) that ``query`` (``n``, ``last``) asks for, as ``spec`` answers it."""
    try:
        n = int(query["n"]) if query.get("n") else None
    except ValueError:
        return TagPage(400, code="PAGINATION_NUMBER_INVALID", message="invalid number of results requested")
    if spec.paging == "ecr" and n is not None and n > ECR_MAX_RESULTS:
        return TagPage(400, code="UNSUPPORTED", message=ECR_TOO_MANY)
    start = _start(spec, secret, tags, query.get("last"))
    if start is None:
        # Wording: the lab's (ECR's own names its nextToken parameter).
        return TagPage(400, code="UNSUPPORTED", message="Invalid parameter at 'nextToken': the token is invalid")
    page = tags[start : start + n] if n is not None else tags[start:]
    doc: dict[str, Any] = {"name": name, "tags": page}
    if spec.tag_extras:
        # Artifact Registry's Google fields beside the spec's two.
        doc = {"child": [], "manifest": {}, **doc}
    more = n is not None and start + n < len(tags)
    link = f'<{_next(spec, secret, name, tags, start + n - 1, n)}>; rel="next"' if more and n is not None else ""
    return TagPage(200, doc, link=link)
