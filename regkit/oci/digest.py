"""Content digests: strict parsing and streaming verification (pure, no I/O)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from ..errors import DigestMismatch, InvalidReference, SizeMismatch

# Only registered algorithms: a digest names a file path later, so anything else is refused.
_HEX_LENGTH = {"sha256": 64, "sha512": 128}
_HEX = re.compile(r"[a-f0-9]+")


@dataclass(frozen=True, order=True)
class Digest:
    """A validated ``algorithm:hex`` content digest.

    Parameters
    ----------
    algorithm : str
        ``sha256`` or ``sha512``.
    hex : str
        The lowercase hex digest, of the algorithm's length.
    """

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: object) -> Digest:
        """Parse ``sha256:<64 hex>`` (or sha512), refusing anything that could be a path or is malformed.

        Parameters
        ----------
        text : str
            The digest as a manifest or a user writes it.

        Returns
        -------
        Digest
            The validated digest.

        Raises
        ------
        InvalidReference
            ``text`` is not a string, lacks the ``algorithm:`` prefix, names an algorithm other than sha256 or
            sha512, or its hex part is not lowercase hex of the algorithm's length; the message says which.
        """
        if not isinstance(text, str):
            raise InvalidReference(f"a digest must be a string, not {type(text).__name__}")
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise InvalidReference(f"digest {text[:80]!r} lacks the 'algorithm:' prefix (like 'sha256:')")
        if algorithm not in _HEX_LENGTH:
            raise InvalidReference(f"digest algorithm {algorithm[:20]!r} is not supported (use sha256 or sha512)")
        want = _HEX_LENGTH[algorithm]
        if not _HEX.fullmatch(hexpart):
            raise InvalidReference(f"digest {text[:80]!r} must be lowercase hexadecimal after '{algorithm}:'")
        if len(hexpart) != want:
            raise InvalidReference(f"a {algorithm} digest has {want} hex digits, {text[:80]!r} has {len(hexpart)}")
        return cls(algorithm, hexpart)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``.

        Parameters
        ----------
        data : bytes
            The content.
        algorithm : str, default "sha256"
            A :mod:`hashlib` algorithm name (``sha256`` or ``sha512`` for a digest :meth:`parse` accepts).

        Returns
        -------
        Digest
            The content's digest.

        Raises
        ------
        ValueError
            :mod:`hashlib` does not know ``algorithm``.
        """
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @property
    def short(self) -> str:
        """The first 12 hex digits, as Docker shows image IDs."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Verifier:
    """Hashes and counts a stream as it passes, and checks it against a digest and size."""

    def __init__(self, digest: Digest | None, size: int | None = None, what: str = "content") -> None:
        # A None digest means "compute it": content we produce ourselves, such as a converted layer.
        self.expected = digest
        self.expected_size = size
        self.what = what
        self.algorithm = digest.algorithm if digest else "sha256"
        self._hash = hashlib.new(self.algorithm)
        self.count = 0

    def reset(self) -> None:
        """Forget what was fed (the download starts over)."""
        self._hash = hashlib.new(self.algorithm)
        self.count = 0

    def update(self, chunk: bytes) -> None:
        """Feed the next chunk; fails as soon as the stream is longer than promised."""
        self.count += len(chunk)
        if self.expected_size is not None and self.count > self.expected_size:
            raise SizeMismatch(
                f"{self.what} {self.expected or ''} is longer than the {self.expected_size} bytes promised"
            )
        self._hash.update(chunk)

    @property
    def actual(self) -> Digest:
        """The digest of what was fed so far."""
        return Digest(self.algorithm, self._hash.hexdigest())

    def check(self) -> None:
        """Raise unless exactly the promised bytes were fed."""
        if self.expected_size is not None and self.count != self.expected_size:
            raise SizeMismatch(
                f"{self.what} {self.expected} has {self.count} bytes, the descriptor says {self.expected_size}"
            )
        if self.expected is not None and self.actual != self.expected:
            raise DigestMismatch(f"{self.what} should have digest {self.expected} but has {self.actual}")
