"""Exports of recorded exchanges: HAR 1.2, JSON lines, a pandas table and curl commands (pure).

Exchanges are redacted when they are recorded, so nothing exported here can hold a secret. A curl
command names each redacted secret as a shell variable (``$TOKEN``) for the reader to set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from .._version import __version__

if TYPE_CHECKING:
    import pandas as pd

    from .record import ExchangeRecord as Exchange  # the fields: Exchange's own methods call this module

HAR_VERSION = "1.2"
HTTP_VERSION = "HTTP/1.1"  # requests (urllib3) speaks HTTP/1.1 only
PAGE_ID = "page_1"
# Columns of :func:`to_dataframe`; times are seconds, ``start``/``end`` counted from the first request.
COLUMNS = (
    "step",
    "method",
    "url",
    "original_url",
    "status",
    "reason",
    "started",
    "start",
    "time_to_headers",
    "total_time",
    "end",
    "bytes_received",
    "throughput",
    "content_type",
    "attempt",
    "note",
    "error",
    "proxy",
    "rewritten",
    "credentials_to",
    "credentials_elsewhere",
)
FORM = "application/x-www-form-urlencoded"
_REDACTED = re.compile(r"<redacted:[0-9a-f]+>")
# Headers curl writes itself from the URL and the body.
_CURL_SKIPS = {"connection", "content-length", "host"}


def to_jsonl(exchanges: Iterable[Exchange]) -> str:
    """One JSON object per exchange and line, every recorded field included."""
    return "".join(json.dumps(asdict(e)) + "\n" for e in exchanges)


def _row(exchange: Exchange, origin: float) -> dict[str, Any]:
    start = exchange.started - origin
    return {
        **{name: getattr(exchange, name) for name in COLUMNS if hasattr(exchange, name)},
        "start": start,
        "end": None if exchange.total_time is None else start + exchange.total_time,
    }


def to_dataframe(exchanges: Sequence[Exchange]) -> pd.DataFrame:
    """A pandas DataFrame with one row per exchange and the :data:`COLUMNS`."""
    import pandas as pd  # only here: importing regkit must stay light

    origin = min((e.started for e in exchanges), default=0.0)
    frame = pd.DataFrame([_row(e, origin) for e in exchanges], columns=list(COLUMNS))
    frame["started"] = pd.to_datetime(frame["started"], unit="s", utc=True)
    return frame


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat(timespec="milliseconds")


def _pairs(headers: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in headers]


def _timings(exchange: Exchange) -> dict[str, float]:
    """HAR timings in milliseconds; what regkit does not measure (DNS, connect, TLS) is -1."""
    total = (exchange.total_time or 0.0) * 1000
    wait = total if exchange.time_to_headers is None else exchange.time_to_headers * 1000
    return {
        "blocked": -1,
        "dns": -1,
        "connect": -1,
        "ssl": -1,
        "send": 0,
        "wait": wait,
        "receive": max(total - wait, 0),
    }


def _har_request(exchange: Exchange) -> dict[str, Any]:
    request = {
        "method": exchange.method,
        "url": exchange.url,
        "httpVersion": HTTP_VERSION,
        "cookies": [],
        "headers": _pairs(exchange.request_headers),
        "queryString": _pairs(parse_qsl(urlsplit(exchange.url).query, keep_blank_values=True)),
        "headersSize": -1,
        "bodySize": -1 if exchange.request_form else 0,
    }
    if exchange.request_form:
        request["postData"] = {
            "mimeType": FORM,
            "params": _pairs(exchange.request_form),
            "text": urlencode(exchange.request_form, safe="<>:"),
        }
    return request


def _har_response(exchange: Exchange) -> dict[str, Any]:
    content: dict[str, Any] = {"size": exchange.bytes_received, "mimeType": exchange.content_type or "x-unknown"}
    if exchange.body_preview:
        content["text"] = exchange.body_preview
    response = {
        "status": exchange.status or 0,  # 0: no answer, as browsers export failed requests
        "statusText": exchange.reason,
        "httpVersion": HTTP_VERSION if exchange.status else "",
        "cookies": [],
        "headers": _pairs(exchange.response_headers),
        "content": content,
        "redirectURL": exchange.header("location") or "",
        "headersSize": -1,
        "bodySize": exchange.bytes_received if exchange.status else -1,
    }
    if exchange.error:
        response["_error"] = exchange.error
    return response


def har_entry(exchange: Exchange) -> dict[str, Any]:
    """One HAR 1.2 entry; regkit's own fields are the ``_``-prefixed custom ones the spec allows."""
    timings = _timings(exchange)
    return {
        "pageref": PAGE_ID,
        "startedDateTime": _iso(exchange.started),
        "time": timings["send"] + timings["wait"] + timings["receive"],
        "request": _har_request(exchange),
        "response": _har_response(exchange),
        "cache": {},
        "timings": timings,
        "comment": exchange.note,
        "_step": exchange.step,
        "_attempt": exchange.attempt,
        "_originalUrl": exchange.original_url,
        "_proxy": exchange.proxy,
        "_credentialsTo": exchange.credentials_to,
        "_credentialsElsewhere": exchange.credentials_elsewhere,
    }


def _page(exchanges: Sequence[Exchange], title: str) -> dict[str, Any]:
    return {
        "startedDateTime": _iso(min(e.started for e in exchanges)),
        "id": PAGE_ID,
        "title": title,
        "pageTimings": {"onContentLoad": -1, "onLoad": -1},
    }


def to_har(exchanges: Sequence[Exchange], title: str = "regkit") -> dict[str, Any]:
    """A HAR 1.2 document (one page named ``title``) that browser devtools and HAR viewers load."""
    return {
        "log": {
            "version": HAR_VERSION,
            "creator": {"name": "regkit", "version": __version__},
            "pages": [_page(exchanges, title)] if exchanges else [],
            "entries": [har_entry(e) for e in exchanges],
        }
    }


def shell_name(text: str) -> str:
    """A shell variable name for a header or query parameter: ``X-Amz-Signature`` -> ``X_AMZ_SIGNATURE``."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", text).strip("_").upper() or "SECRET"
    return f"_{name}" if name[0].isdigit() else name


def _escape(text: str) -> str:
    """``text`` made literal inside shell double quotes."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def _quote(text: str, variable: Callable[[str], str]) -> str:
    """``text`` in double quotes with each redacted secret as ``${NAME}``, named from the text before it."""
    out, last = [], 0
    for match in _REDACTED.finditer(text):
        out += [_escape(text[last : match.start()]), "${" + variable(text[: match.start()]) + "}"]
        last = match.end()
    return '"' + "".join([*out, _escape(text[last:])]) + '"'


def _url_variable(prefix: str) -> Callable[[str], str]:
    """Names secrets in a URL: a query parameter's name (``md5`` -> ``$MD5``), else ``PREFIXPASSWORD``."""

    def name(before: str) -> str:
        parameter = re.search(r"([^?&=]+)=$", before)
        return shell_name(parameter.group(1)) if parameter else f"{prefix}PASSWORD"

    return name


def _header_option(name: str, value: str) -> str:
    scheme = value.partition(" ")[0].lower()
    if name.lower() == "authorization" and scheme == "basic":
        return '-u "${USERNAME}:${PASSWORD}"'  # curl builds the same Basic header
    variable = "TOKEN" if name.lower() == "authorization" and scheme == "bearer" else shell_name(name)
    return "-H " + _quote(f"{name}: {value}", lambda before: variable)


def to_curl(exchange: Exchange) -> str:
    """The request as a curl command that shows the response headers; secrets are shell variables.

    Like regkit, curl is not told to follow redirects (no ``-L``): each hop is its own command.
    """
    options = ["curl -sS -I"] if exchange.method == "HEAD" else ["curl -sS -D -"]
    if exchange.method not in ("GET", "HEAD"):
        options.append(f"-X {exchange.method}")
    if exchange.proxy:
        options.append("--proxy " + _quote(exchange.proxy, _url_variable("PROXY_")))
    options += [_header_option(k, v) for k, v in exchange.request_headers if k.lower() not in _CURL_SKIPS]
    options += ["--data-urlencode " + _quote(f"{k}={v}", _url_variable("")) for k, v in exchange.request_form]
    if exchange.step == "blob" and exchange.status == 200:
        options.append("-o blob")  # a layer is binary: into a file, not onto the terminal
    options.append(_quote(exchange.url, _url_variable("")))
    return " \\\n  ".join(options)
