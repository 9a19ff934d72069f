"""``WWW-Authenticate`` challenges (RFC 7235) as registries send them (pure, no I/O)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .._repr import HtmlRepr

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_TOKEN68 = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_SPACE = re.compile(r"[ \t]*")


@dataclass(frozen=True)
class Challenge(HtmlRepr):
    """One authentication challenge: a scheme (``bearer``, ``basic``) and its parameters."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str | None:
        """Where to ask for a token (Bearer) or the protection space name (Basic)."""
        return self.params.get("realm")

    @property
    def service(self) -> str | None:
        """The ``service`` the token must be issued for."""
        return self.params.get("service")

    @property
    def scope(self) -> str | None:
        """The ``scope`` the registry asks for, e.g. ``repository:library/alpine:pull``."""
        return self.params.get("scope")

    def __str__(self) -> str:
        params = ",".join(f'{k}="{v}"' for k, v in self.params.items())
        return f"{self.scheme.capitalize()} {params}".strip()


def _quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted-string starting after its opening quote; backslash escapes one character."""
    out = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
        elif char == '"':
            return "".join(out), pos + 1
        else:
            out.append(char)
            pos += 1
    return "".join(out), pos  # unterminated: keep what there is rather than fail the whole header


def parse_challenges(header: str) -> list[Challenge]:
    """Parse every challenge in a ``WWW-Authenticate`` value; unparseable parts are skipped."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        pos = _SPACE.match(header, pos).end()  # type: ignore[union-attr]
        if pos < len(header) and header[pos] == ",":
            pos += 1
            continue
        match = _TOKEN.match(header, pos)
        if not match:
            pos += 1  # junk character: skip it rather than give up on later challenges
            continue
        word, after = match.group(), match.end()
        rest = _SPACE.match(header, after).end()  # type: ignore[union-attr]
        if rest < len(header) and header[rest] == "=" and challenges and not _is_token68_end(header, rest):
            value, pos = _param_value(header, rest + 1)
            challenges[-1].params.setdefault(word.lower(), value)
            continue
        challenges.append(Challenge(word.lower(), {}))
        pos = rest
        token68 = _TOKEN68.match(header, pos)
        if token68 and not _looks_like_param(header, pos):
            challenges[-1].params["token68"] = token68.group()
            pos = token68.end()
    return challenges


def _param_value(header: str, pos: int) -> tuple[str, int]:
    pos = _SPACE.match(header, pos).end()  # type: ignore[union-attr]
    if pos < len(header) and header[pos] == '"':
        return _quoted(header, pos + 1)
    match = _TOKEN.match(header, pos)
    return (match.group(), match.end()) if match else ("", pos)


def _looks_like_param(header: str, pos: int) -> bool:
    match = _TOKEN.match(header, pos)
    if not match:
        return False
    after = _SPACE.match(header, match.end()).end()  # type: ignore[union-attr]
    return after < len(header) and header[after] == "=" and not _is_token68_end(header, after)


def _is_token68_end(header: str, eq: int) -> bool:
    """A '=' followed by another '=' is token68 padding, not ``name=value``."""
    return header[eq + 1 : eq + 2] == "="


def find_challenge(challenges: list[Challenge], scheme: str) -> Challenge | None:
    """The first challenge of ``scheme`` (case-insensitive)."""
    return next((c for c in challenges if c.scheme == scheme.lower()), None)
