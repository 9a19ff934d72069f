"""Image references: parsing, validation and Docker Hub normalisation (pure, no I/O).

The grammar is the one of the distribution project's ``reference`` package::

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [domain "/"] path-component ["/" path-component]*
    domain     := host [":" port]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._repr import HtmlRepr
from ..errors import INSECURE, Hint, InvalidReference
from .digest import Digest

DOCKER_HUB_DOMAIN = "docker.io"
DOCKER_HUB_REGISTRY = "registry-1.docker.io"
# Names that all mean Docker Hub; the API itself lives at registry-1.docker.io.
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"}
DEFAULT_TAG = "latest"
NAME_MAX_LENGTH = 255  # of the path (repository) only, as in distribution/reference v0.6.0 and later
# Error messages quote at most this much of what the user typed (a 10,000-character reference is not echoed).
_SHOWN_MAX = 100

_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
# IPv6 literals in brackets take hex digits and ':' only, like distribution's (no zone, no embedded IPv4).
_DOMAIN = re.compile(rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:]+\])(?::[0-9]{{1,5}})?")
# A bare 64-hex name would be mistaken for an image ID, so distribution refuses it as a name.
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_TAG = re.compile(r"[\w][\w.-]{0,127}", re.ASCII)  # \w would take any Unicode letter or digit


@dataclass(frozen=True)
class Reference(HtmlRepr):
    """A fully qualified image reference: registry host, repository, tag and/or digest.

    Built by :func:`resolve`, which applies Docker Hub's defaults.

    Parameters
    ----------
    registry : str
        The registry's ``host[:port]``.
    repository : str
        The repository path (``library/busybox``).
    tag : str, optional
        The tag, if any.
    digest : Digest, optional
        The digest, if any (it wins over the tag).
    original : str, optional
        The text it was parsed from.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: Digest | None = None
    original: str = ""

    @property
    def is_docker_hub(self) -> bool:
        """True when the registry is Docker Hub."""
        return self.registry == DOCKER_HUB_REGISTRY

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when pinned (it wins over the tag), else the tag."""
        return str(self.digest) if self.digest else (self.tag or DEFAULT_TAG)

    @property
    def name(self) -> str:
        """Registry host and repository, e.g. ``registry-1.docker.io/library/alpine``."""
        return f"{self.registry}/{self.repository}"

    @property
    def canonical_name(self) -> str:
        """The name containerd and ``docker save`` write: ``docker.io/library/alpine`` for Docker Hub."""
        return f"{DOCKER_HUB_DOMAIN}/{self.repository}" if self.is_docker_hub else self.name

    @property
    def familiar_name(self) -> str:
        """The short name Docker shows: ``alpine`` for Hub's library images, else domain/repository.

        Only a single component after ``library/`` is shortened: ``library/foo/bar`` stays as it is,
        since ``foo/bar`` names another repository (distribution/reference's ``familiarizeName``).
        """
        if not self.is_docker_hub:
            return self.name
        short = self.repository.removeprefix("library/")
        return short if "/" not in short else self.repository

    @property
    def repo_tag(self) -> str | None:
        """The ``RepoTags`` entry ``docker load`` should create, or None for a digest-only reference."""
        return f"{self.familiar_name}:{self.tag}" if self.tag else None

    @property
    def scope(self) -> str:
        """The token scope a pull of this repository needs."""
        return f"repository:{self.repository}:pull"

    def with_digest(self, digest: Digest) -> Reference:
        """The same reference pinned to ``digest``.

        Parameters
        ----------
        digest : Digest
            The digest to pin to; the tag is kept, for display.

        Returns
        -------
        Reference
            A new reference; this one is unchanged.
        """
        return Reference(self.registry, self.repository, self.tag, digest, self.original)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def valid_tag(text: str) -> bool:
    """True when ``text`` is a tag as distribution/reference spells one (1-128 characters, no leading '.' or '-')."""
    return _TAG.fullmatch(text) is not None


def _shown(text: str) -> str:
    """``text`` quoted for an error message, cut to a readable length."""
    if len(text) <= _SHOWN_MAX:
        return repr(text)
    return f"{text[:_SHOWN_MAX]!r}... ({len(text)} characters)"


def _fail(text: str, why: str, hint: Hint | None = None) -> InvalidReference:
    return InvalidReference(f"invalid image reference {_shown(text)}: {why}", hint=hint)


def _split_domain(name: str) -> tuple[str, str]:
    """Split off the registry host the way Docker does: a first component with '.', ':' or 'localhost'."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        return first, rest
    return DOCKER_HUB_DOMAIN, name


def _check_repository(text: str, repository: str) -> None:
    if not repository:
        raise _fail(text, "the repository name is empty")
    for component in repository.split("/"):
        if not component:
            raise _fail(text, "the repository has an empty path component ('//' or a trailing '/')")
        if component != component.lower() and _PATH_COMPONENT.fullmatch(component.lower()):
            raise _fail(text, f"repository names must be lowercase, {_shown(component)} is not")
        if not _PATH_COMPONENT.fullmatch(component):
            raise _fail(
                text,
                f"{_shown(component)} is not a valid path component "
                "(lowercase letters and digits, separated by '.', '_', '__' or '-')",
            )


def resolve(ref: str) -> Reference:
    """Parse ``ref`` and fill in the defaults: ``alpine`` -> ``registry-1.docker.io/library/alpine:latest``.

    Parameters
    ----------
    ref : str
        An image reference in the distribution grammar: ``[host[:port]/]path[:tag][@digest]``.

    Returns
    -------
    Reference
        The registry, repository, tag and digest, with Docker Hub's defaults applied.

    Raises
    ------
    InvalidReference
        ``ref`` does not follow the grammar; the message says which part, the hint what to write.
    """
    if not isinstance(ref, str):
        raise InvalidReference(f"an image reference must be a string, not {type(ref).__name__}")
    text = ref.strip()
    if not text:
        raise InvalidReference("the image reference is empty; give one like 'alpine' or 'ghcr.io/org/app:1.0'")
    if "://" in text:
        raise _fail(text, "leave out the scheme (http:// or https://)", Hint("for plain HTTP use ", INSECURE))
    if any(c.isspace() for c in text):
        raise _fail(text, "it contains white space")

    rest, at, digest_text = text.partition("@")
    digest = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except InvalidReference as exc:
            raise _fail(text, exc.message) from None

    # A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    name, tag = rest, None
    colon = rest.rfind(":")
    if colon > rest.rfind("/"):
        name, tag = rest[:colon], rest[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise _fail(
                text,
                f"tag {_shown(tag)} is invalid (1-128 of letters, digits, '_', '.', '-'; not starting with '.' or '-')",
            )

    if _IDENTIFIER.fullmatch(text):
        raise _fail(
            text, "a name of 64 hex digits reads as an image ID; write it with its registry, like docker.io/<name>"
        )
    domain, repository = _split_domain(name)
    if not _DOMAIN.fullmatch(domain):
        raise _fail(text, f"{_shown(domain)} is not a valid registry host[:port]")
    _check_repository(text, repository)

    if domain.lower() in _HUB_ALIASES:
        domain = DOCKER_HUB_REGISTRY
        if "/" not in repository:
            repository = f"library/{repository}"
    # Counted like distribution: the path only (with Hub's library/ prefix), not the host.
    if len(repository) > NAME_MAX_LENGTH:
        raise _fail(text, f"the repository path has {len(repository)} characters, more than {NAME_MAX_LENGTH}")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(domain, repository, tag, digest, original=ref)
