"""Platforms (``os/arch[/variant]``): parsing, normalisation and matching like containerd (pure)."""

from __future__ import annotations

import platform as _stdlib_platform
from dataclasses import dataclass

from ..errors import InvalidPlatform

# Spellings found in the wild for the same architecture (containerd's platforms.normalizeArch).
_ARCH_ALIASES = {
    "x86_64": ("amd64", ""),
    "x86-64": ("amd64", ""),
    "amd64": ("amd64", ""),
    "i386": ("386", ""),
    "i686": ("386", ""),
    "aarch64": ("arm64", ""),
    "arm64": ("arm64", ""),
    "armhf": ("arm", "v7"),
    "armel": ("arm", "v6"),
    "armv7l": ("arm", "v7"),
    "armv6l": ("arm", "v6"),
}
# An architecture's variant when none is given.
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}
# Families whose newer variants run the older ones' binaries (arm v7 runs v6 and v5; amd64 v3 runs v2, v1).
_LADDERS = {"arm": ("v5", "v6", "v7", "v8"), "amd64": ("v1", "v2", "v3", "v4")}


@dataclass(frozen=True)
class Platform:
    """An image platform; ``variant`` is normalised (``arm64`` means ``arm64/v8``)."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (or just ``arch``, meaning linux) and normalise it."""
        parts = text.strip().lower().split("/") if isinstance(text, str) else []
        if not 1 <= len(parts) <= 3 or not all(parts):
            raise InvalidPlatform(f"invalid platform {text!r}: use os/arch[/variant], like linux/amd64 or linux/arm/v7")
        if len(parts) == 1:
            parts = ["linux", *parts]
        return cls.of(*parts)

    @classmethod
    def of(cls, os: str, architecture: str, variant: str = "") -> Platform:
        """Normalised platform from its parts (as found in an index's ``platform`` object)."""
        arch, implied = _ARCH_ALIASES.get(architecture, (architecture, ""))
        variant = variant or implied or _DEFAULT_VARIANT.get(arch, "")
        if arch == "amd64" and variant == "v1":
            variant = ""  # v1 is plain amd64; keeping it empty makes equal platforms compare equal
        return cls(os, arch, variant)

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine; containers are Linux even on other hosts."""
        return cls.of("linux", _stdlib_platform.machine().lower())

    def runs(self, image: Platform) -> bool:
        """True when a host of this platform can run an image built for ``image``."""
        if (self.os, self.architecture) != (image.os, image.architecture):
            return False
        return self.variant == image.variant or self._rank(image) <= self._rank(self)

    def preference(self, image: Platform) -> int:
        """Lower is better among images this platform runs: the exact variant first, then the newest."""
        return 0 if image.variant == self.variant else 1 + self._rank(self) - self._rank(image)

    def _rank(self, p: Platform) -> int:
        ladder = _LADDERS.get(self.architecture, ())
        variant = p.variant or (ladder[0] if ladder else "")
        return ladder.index(variant) if variant in ladder else len(ladder) + 1

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)
