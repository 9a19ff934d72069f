"""A sequence diagram of a pull: one lane per party, one arrow per exchange, as static SVG and as text.

Lanes are the client, the registry, the token service and the CDN. Each exchange goes to the lane
of the server it was *meant* for (``original_url``): a request the seed's proxy carried still
belongs to the registry, the token service or the CDN, and the lane's header says which host it
was sent to instead. Every arrow is marked when the request carried ``Authorization`` and when it
deliberately did not (a redirect hop to the CDN); a failed request ends in a cross where it failed.

The SVG has no script and no stylesheet: lines and text are ``currentColor`` (they follow the
notebook's theme, light or dark), the marks use JupyterLab's colour variables with fallbacks, and
each arrow's ``<title>`` repeats its label for readers that cannot see it. Everything shown was
redacted when recorded; URLs lose their query here as well, and every value is escaped again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from ..http.exchange import Exchange

LANES = ("client", "registry", "token", "cdn")
LANE_TITLES = {"client": "client", "registry": "registry", "token": "token service", "cdn": "CDN"}
AUTH_SENT, AUTH_WITHHELD = "sent", "withheld"
_LONG_HEX = re.compile(r"[0-9a-f]{16,}")
_LABEL_CHARS = 58  # of a path on an arrow; the <title> holds it whole
# Geometry of the SVG, in pixels.
_LANE_X = {"client": 60, "registry": 330, "token": 560, "cdn": 760}
_WIDTH = 900
_HEAD = 62
_ROW = 34
_FOOT = 44
# Colours of the marks only (text stays currentColor); JupyterLab's variables, fallbacks for elsewhere.
_AUTH_COLOUR = "var(--jp-warn-color1, #c77c00)"
_WITHHELD_COLOUR = "var(--jp-brand-color1, #2f7fd1)"
_FAIL_COLOUR = "var(--jp-error-color1, #d9413a)"


@runtime_checkable
class HasExchanges(Protocol):
    """A result that keeps the exchanges it made (a pull, a token, a blob)."""

    @property
    def exchanges(self) -> Sequence[Exchange]: ...


def role(exchange: Exchange) -> str:
    """The lane of the server the request was meant for: ``registry``, ``token`` or ``cdn``."""
    if "redirect" in exchange.note:
        return "cdn"
    path = urlsplit(exchange.original_url).path
    return "registry" if path.startswith("/v2") or exchange.step != "token" else "token"


def auth_mark(exchange: Exchange) -> str:
    """``sent`` if the request carried Authorization, ``withheld`` if it was left out on purpose, else ''."""
    if any(name.lower() == "authorization" for name, _ in exchange.request_headers):
        return AUTH_SENT
    return AUTH_WITHHELD if "no Authorization" in exchange.note else ""


def short_path(url: str) -> str:
    """The URL's path without its query, long hex runs (digests, blob paths) cut to 8 digits."""
    path = urlsplit(url).path or "/"
    return _LONG_HEX.sub(lambda match: match.group()[:8] + "…", path)


def _base(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _sent_base(exchange: Exchange) -> str:
    """Where the request went: the host, plus the proxy's location when a setting rewrote the URL."""
    sent, meant = urlsplit(exchange.url), urlsplit(exchange.original_url)
    prefix = sent.path[: len(sent.path) - len(meant.path)] if sent.path.endswith(meant.path) else ""
    return f"{sent.scheme}://{sent.netloc}{prefix}"


@dataclass(frozen=True)
class Arrow:
    """One exchange as the diagram draws it."""

    number: int
    lane: str
    method: str
    path: str
    outcome: str
    failed: bool
    auth: str
    note: str

    @property
    def label(self) -> str:
        """``GET /v2/…/manifests/latest``, the path cut to fit."""
        path = _fit(self.path, _LABEL_CHARS)
        return f"{'↪ ' if self.lane == 'cdn' else ''}{self.method} {path}"

    @property
    def marks(self) -> str:
        """The Authorization mark and the note in words: ``Authorization sent``, ``… (on purpose)``."""
        if self.auth == AUTH_WITHHELD:
            return f"{self.note} (on purpose)"
        return "; ".join(part for part in ("Authorization sent" if self.auth else "", self.note) if part)


def _outcome(exchange: Exchange) -> str:
    if exchange.error:
        return f"failed: {exchange.error}"
    ms = f" · {exchange.total_time * 1000:.0f} ms" if exchange.total_time is not None else ""
    return f"{exchange.status} {exchange.reason}".strip() + ms


def arrows(exchanges: Iterable[Exchange]) -> list[Arrow]:
    """The arrows, in the order the requests were sent."""
    ordered = sorted(exchanges, key=lambda e: e.started)
    return [
        Arrow(
            number=n,
            lane=role(e),
            method=e.method,
            path=short_path(e.original_url),
            outcome=_outcome(e),
            failed=bool(e.error),
            auth=auth_mark(e),
            note=e.note,
        )
        for n, e in enumerate(ordered, 1)
    ]


def lane_hosts(exchanges: Iterable[Exchange]) -> dict[str, list[str]]:
    """Per lane, where its requests were meant to go and, if a setting rewrote them, where they went."""
    hosts: dict[str, list[str]] = {lane: [] for lane in LANES}
    for exchange in exchanges:
        meant, sent = _base(exchange.original_url), _sent_base(exchange)
        text = meant if sent == meant else f"{meant} via {sent}"
        if exchange.proxy:
            text += f" (HTTP proxy {exchange.proxy})"
        if text not in hosts[role(exchange)]:
            hosts[role(exchange)].append(text)
    return hosts


class SequenceDiagram:
    """A pull's exchanges as a sequence diagram: ``_repr_html_`` is the SVG, ``str()`` the text version."""

    def __init__(self, exchanges: Iterable[Exchange], title: str = "") -> None:
        self.exchanges = list(exchanges)
        self.title = title
        self.arrows = arrows(self.exchanges)
        self.hosts = lane_hosts(self.exchanges)
        self._head = f"rk-seq-head-{id(self):x}"  # the arrowhead's id, unique per diagram on a page

    def svg(self) -> str:
        """The diagram as one ``<svg>`` element: no script, no stylesheet, colours from the theme."""
        height = _HEAD + _ROW * len(self.arrows) + _FOOT
        bottom = height - _FOOT + 6
        parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" class="regkit-sequence" width="{_WIDTH}" height="{height}" '
            f'viewBox="0 0 {_WIDTH} {height}" role="img" font-family="sans-serif" font-size="12" '
            f'fill="currentColor" stroke="none" style="color:inherit;max-width:100%;height:auto">',
            f"<title>{escape(self.title or 'sequence diagram of the pull')}</title>",
            f'<defs><marker id="{self._head}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/>'
            "</marker></defs>",
        ]
        for lane in LANES:
            x = _LANE_X[lane]
            hosts = self.hosts[lane]
            meant, _, sent = (hosts[0] if hosts else "").partition(" via ")
            more = f" (+{len(hosts) - 1})" if len(hosts) > 1 else ""
            parts.append(
                f'<g class="lane" data-lane="{lane}"><title>{escape("; ".join(hosts) or LANE_TITLES[lane])}</title>'
                f'<text x="{x}" y="16" text-anchor="middle" font-weight="bold">{LANE_TITLES[lane]}</text>'
                f'<text x="{x}" y="30" text-anchor="middle" font-size="10">{escape(_fit(_hostport(meant), 34) + more)}'
                f'</text><text x="{x}" y="42" text-anchor="middle" font-size="10">'
                f"{escape('via ' + _fit(_hostport(sent), 30) if sent else '')}</text>"
                f'<line x1="{x}" y1="48" x2="{x}" y2="{bottom}" stroke="currentColor" stroke-opacity="0.4" '
                f'stroke-dasharray="4 3"/></g>'
            )
        for row, arrow in enumerate(self.arrows):
            parts.append(self._arrow_svg(arrow, _HEAD + _ROW * row + 18))
        parts.append(self._legend_svg(height - 14))
        parts.append("</svg>")
        return "".join(parts)

    def _arrow_svg(self, arrow: Arrow, y: int) -> str:
        start, end = _LANE_X["client"], _LANE_X[arrow.lane]
        tip = end - 28 if arrow.failed else end  # a failed request stops short of the server it did not reach
        dash = ' stroke-dasharray="5 3"' if arrow.failed else ""
        title = f"{arrow.number}. {arrow.method} {arrow.path} → {arrow.outcome}" + (
            f" ({arrow.marks})" if arrow.marks else ""
        )
        parts = [
            f'<g class="arrow" data-number="{arrow.number}" data-lane="{arrow.lane}" data-auth="{arrow.auth}" '
            f'data-failed="{str(arrow.failed).lower()}"><title>{escape(title)}</title>',
            f'<text x="{start + 22}" y="{y - 5}" font-size="11">{arrow.number}. {escape(arrow.label)}</text>',
            f'<line x1="{start}" y1="{y}" x2="{tip:.0f}" y2="{y}" stroke="currentColor" stroke-width="1.4"{dash}'
            + ("" if arrow.failed else f' marker-end="url(#{self._head})"')
            + "/>",
        ]
        if arrow.failed:
            parts.append(
                f'<path d="M{tip - 5:.0f},{y - 5} l10,10 m0,-10 l-10,10" stroke="{_FAIL_COLOUR}" stroke-width="2.4"/>'
                f'<text x="{end - 6}" y="{y + 14}" font-size="11" text-anchor="end" font-weight="bold">'
                f"{escape(_fit(arrow.outcome.split(' (')[0], 70))}</text>"
            )
        else:
            parts.append(
                f'<text x="{end - 6}" y="{y + 14}" font-size="11" text-anchor="end" font-weight="bold">'
                f"{escape(arrow.outcome)}</text>"
            )
        parts.append(_auth_svg(arrow.auth, start + 10, y))
        parts.append("</g>")
        return "".join(parts)

    def _legend_svg(self, y: int) -> str:
        return (
            f'<g class="legend" font-size="11">{_auth_svg(AUTH_SENT, 16, y - 4)}'
            f'<text x="26" y="{y}">request carried Authorization (redacted)</text>'
            f"{_auth_svg(AUTH_WITHHELD, 296, y - 4)}"
            f'<text x="306" y="{y}">Authorization left out on purpose (CDN hop)</text>'
            f'<path d="M591,{y - 9} l10,10 m0,-10 l-10,10" stroke="{_FAIL_COLOUR}" stroke-width="2.4"/>'
            f'<text x="608" y="{y}">request failed there</text></g>'
        )

    def text(self) -> str:
        """The diagram for a terminal: lanes as columns, one arrow per exchange, marks and status in words."""
        column = {lane: 2 + 16 * i for i, lane in enumerate(LANES)}
        width = column["cdn"] + 2
        header = "".ljust(width)
        for lane in LANES:
            header = header[: column[lane]] + LANE_TITLES[lane] + header[column[lane] + len(LANE_TITLES[lane]) :]
        lines = [f"  {self.title}" if self.title else "", header.rstrip()]
        lines = [line for line in lines if line]
        for arrow in self.arrows:
            row = [" "] * width
            for lane in LANES:
                row[column[lane]] = "|"
            start, end = column["client"], column[arrow.lane]
            if arrow.failed:
                end -= 3  # short of the server it did not reach
            for x in range(start + 1, end):
                row[x] = "-"
            row[end] = "x" if arrow.failed else ">"
            marks = f"  [{arrow.marks}]" if arrow.marks else ""
            lines.append(f"{''.join(row)}  {arrow.number:>2}. {arrow.label}  -> {arrow.outcome}{marks}")
        for lane in LANES[1:]:
            for host in self.hosts[lane]:
                lines.append(f"  {LANE_TITLES[lane]}: {host}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.text()

    def __repr__(self) -> str:
        return self.text()

    def _repr_html_(self) -> str:
        # Plain-text twin in a <details> for readers and untrusted views that drop the SVG.
        return (
            f'<div class="regkit">{self.svg()}<details><summary>as text</summary>'
            f"<pre>{escape(self.text())}</pre></details></div>"
        )


def _auth_svg(auth: str, x: float, y: float) -> str:
    """The Authorization mark: a filled dot when sent, a crossed ring when left out on purpose."""
    if auth == AUTH_SENT:
        return f'<circle cx="{x}" cy="{y}" r="5" fill="{_AUTH_COLOUR}" class="mark-auth"/>'
    if auth == AUTH_WITHHELD:
        return (
            f'<g class="mark-withheld"><circle cx="{x}" cy="{y}" r="5" fill="none" stroke="{_WITHHELD_COLOUR}" '
            f'stroke-width="1.8"/><path d="M{x - 3.5},{y + 3.5} L{x + 3.5},{y - 3.5}" stroke="{_WITHHELD_COLOUR}" '
            f'stroke-width="1.8"/></g>'
        )
    return ""


def _hostport(url: str) -> str:
    """``host:port/prefix`` of a base URL: the scheme is in the lane's tooltip."""
    return url.split("://", 1)[-1]


def _fit(text: str, chars: int) -> str:
    """``text`` cut in the middle to ``chars`` characters: a path's start and end both tell something."""
    if len(text) <= chars:
        return text
    head = chars // 3
    return text[:head] + "…" + text[len(text) - (chars - head - 1) :]


def sequence(source: Iterable[Exchange] | HasExchanges, title: str = "") -> SequenceDiagram:
    """The sequence diagram of a transcript, of any exchanges, or of a result that has them (a pull's, a step's).

    Parameters
    ----------
    source : iterable of Exchange, or a result with ``exchanges``
        A client's transcript, a list of exchanges, or a step's or pull's result.
    title : str, optional
        A heading for the diagram.

    Returns
    -------
    SequenceDiagram
        Renders as SVG in Jupyter (``_repr_html_``) and as text with ``str()``.

    Raises
    ------
    RegkitError
        Never: every exchange is drawn, a failed one ending in a cross; listed for completeness.
    """
    exchanges = source.exchanges if isinstance(source, HasExchanges) else source
    return SequenceDiagram(exchanges, title)
