"""Platforms (``os/arch[/variant]``): parsing, normalisation and matching like containerd/platforms (pure).

Parsing follows containerd's ``platforms.Parse``: ``os/arch[/variant]``; or one word, which is an OS
(``linux``, ``windows``, ``macOS``: that OS with this host's architecture and variant) or else an
architecture (``arm64``: Linux on arm64). Each part takes letters, digits, ``_``, ``.`` and ``-`` only.
containerd's ``os(version+features)`` form (``windows(10.0.17763)/amd64``) is refused with a clear
error: regkit matches images on OS, architecture and variant only, so accepting an OS version it would
then ignore would pick an image the user did not ask for.

Matching follows containerd's ``platforms.Only``: a host runs its own platform and the older steps of
its variant ladder, best first (``arm/v8`` runs v7, v6, v5; ``arm64/v8.2`` runs v8.1, v8 and 32-bit
``arm/v8``..``v5``; ``amd64/v3`` runs v2, v1 and ``386``). Variants outside a ladder match only
themselves. One deliberate difference: containerd gives an ``arm64`` host with an unknown variant an
empty ladder (it runs nothing); here it runs images of exactly its own platform.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidPlatform

try:  # os.uname is what platform.machine() reads on POSIX, without the platform module's ~3 ms of start-up
    from os import uname as _uname
except ImportError:  # Windows
    from platform import uname as _uname  # type: ignore[assignment]

_USAGE = "use os/arch[/variant], like linux/amd64 or linux/arm/v7"
_PART = re.compile(r"[A-Za-z0-9_.-]+")
# containerd's OS part: a name, optionally followed by "(version+feature+...)".
_OS_PART = re.compile(r"([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.%-]*)((?:\+[A-Za-z0-9_.%-]+)*)\))?")
# What a single word may name (containerd's isKnownOS / isKnownArch).
# fmt: off
_KNOWN_OS = frozenset((
    "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd",
    "openbsd", "plan9", "solaris", "windows", "zos",
))
_KNOWN_ARCH = frozenset((
    "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle",
    "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64",
    "wasm",
))
# fmt: on
# Variant spellings containerd's normalizeArch folds together (arm64's v8 is written out here).
_ARM64_VARIANTS = {"": "v8", "8": "v8", "v8.0": "v8", "9": "v9", "9.0": "v9", "v9.0": "v9"}
_ARM_VARIANTS = {"": "v7", "7": "v7", "5": "v5", "6": "v6", "8": "v8"}
_ARM64_LADDER = re.compile(r"v(8|9)(?:\.([1-9]))?")
# /proc/cpuinfo's "CPU architecture" values and the arm variant each means (containerd's getCPUVariant).
_CPU_VARIANTS = {
    **dict.fromkeys(("8", "aarch64"), "v8"),
    **dict.fromkeys(("7", "7m", "?(12)", "?(13)", "?(14)", "?(15)", "?(16)", "?(17)"), "v7"),
    **dict.fromkeys(("6", "6tej"), "v6"),
    **dict.fromkeys(("5", "5t", "5te", "5tej"), "v5"),
    **dict.fromkeys(("4", "4t"), "v4"),
    "3": "v3",
}
# uname machine names and the Go architecture each is (what Docker and containerd call it).
_UNAME_ARCH = {"x86_64": "amd64", "i386": "386", "i486": "386", "i586": "386", "i686": "386", "aarch64": "arm64"}


def _fail(text: str, why: str) -> InvalidPlatform:
    shown = repr(text) if len(text) <= 100 else f"{text[:100]!r}... ({len(text)} characters)"
    return InvalidPlatform(f"invalid platform {shown}: {why}; {_USAGE}")


def _normalize_os(os: str) -> str:
    """containerd's normalizeOS: lowercase, and macOS is ``darwin``."""
    os = os.lower()
    return "darwin" if os == "macos" else os


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    """containerd's normalizeArch, except that arm64's default variant is written ``v8``."""
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", _ARM64_VARIANTS.get(variant, variant)
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        return "arm", _ARM_VARIANTS.get(variant, variant)
    return arch, variant


def _cpu_variant(cpuinfo: str, machine: str) -> str:
    """The arm variant of this CPU: /proc/cpuinfo's "CPU architecture", else the uname machine (``armv6l``)."""
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), value.strip())
    raw = fields.get("cpu architecture")
    if raw is None:
        if not (machine.startswith("armv") and len(machine) >= 5):
            return ""
        raw = machine[4]
    # Raspberry Pi 1 kernels report ARMv6 CPUs as architecture 7.
    if raw == "7" and fields.get("model name", "").lower().startswith("armv6-compatible"):
        raw = "6"
    return _CPU_VARIANTS.get(raw.lower(), "unknown")


@dataclass(frozen=True)
class Platform:
    """An image platform; ``variant`` is normalised (``arm64`` means ``arm64/v8``, ``arm`` means ``arm/v7``).

    Parameters
    ----------
    os : str
        ``linux``, ``windows``, …
    architecture : str
        ``amd64``, ``arm64``, ``arm``, …
    variant : str, optional
        ``v8``, ``v7``, …; empty for none.
    """

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]``, an OS alone (host architecture) or an architecture alone (Linux).

        Parameters
        ----------
        text : str
            ``linux/arm64/v8``, ``linux/amd64``, ``windows`` or ``arm64``; case and spelling are normalised.

        Returns
        -------
        Platform
            The platform in normal form.

        Raises
        ------
        InvalidPlatform
            ``text`` is not a string, is empty, has an empty part, more than three parts, a wildcard, an OS
            version (``windows(10.0.17763)``), characters outside letters, digits, ``_``, ``.`` and ``-``, or is
            one word naming neither a known OS nor a known architecture; fix the string.
        """
        if not isinstance(text, str):
            raise InvalidPlatform(f"a platform must be a string, not {type(text).__name__}; {_USAGE}")
        if "*" in text:
            raise _fail(text, "wildcards are not supported")
        parts = text.split("/", 3)
        if "" in parts:
            raise _fail(
                text, "it is empty" if not text else "it has an empty part (a leading, trailing or doubled '/')"
            )
        if len(parts) > 3:
            raise _fail(text, "it has more than three parts")
        os_part = _OS_PART.fullmatch(parts[0])
        if os_part is None:
            raise _fail(text, f"the OS {parts[0][:100]!r} may only have letters, digits, '_' and '-'")
        if os_part[2] or os_part[3]:
            raise _fail(
                text,
                "regkit does not match on OS version or features (containerd's os(version+features) form); "
                "give the OS alone, and regkit picks the first image for that OS and architecture",
            )
        for part in parts[1:]:
            if not _PART.fullmatch(part):
                raise _fail(text, f"{part[:100]!r} may only have letters, digits, '_', '.' and '-'")
        os_name = os_part[1]
        if len(parts) > 1:
            return cls.of(os_name, parts[1], parts[2] if len(parts) == 3 else "")
        if _normalize_os(os_name) in _KNOWN_OS:
            host = cls.host()
            return cls(_normalize_os(os_name), host.architecture, host.variant)
        arch = cls.of("linux", os_name)
        if arch.architecture in _KNOWN_ARCH:
            return arch
        raise _fail(text, f"{os_name!r} is neither a known operating system nor a known architecture")

    @classmethod
    def of(cls, os: str, architecture: str, variant: str = "") -> Platform:
        """Normalised platform from its parts (as found in an index's ``platform`` object).

        Parameters
        ----------
        os : str
            The OS; lowercased, ``macOS`` becomes ``darwin``.
        architecture : str
            The architecture; ``x86_64`` becomes ``amd64``, ``aarch64`` ``arm64``, ``armhf`` ``arm/v7``, ….
        variant : str, default ""
            The variant; arm64 defaults to ``v8``, arm to ``v7``, amd64's ``v1`` is dropped.

        Returns
        -------
        Platform
            The platform in normal form; the parts are not checked (see :meth:`parse` for that).
        """
        return cls(_normalize_os(os), *_normalize_arch(architecture, variant))

    @classmethod
    def host(cls) -> Platform:
        """The platform of this machine; containers are Linux even on other hosts.

        Returns
        -------
        Platform
            ``linux`` with this machine's architecture (from ``uname``) and, on 32-bit arm, the variant read
            from ``/proc/cpuinfo`` (none when it cannot be read).
        """
        machine = _uname().machine.lower()
        arch = _UNAME_ARCH.get(machine, "arm" if machine.startswith("arm") and machine != "arm64" else machine)
        if arch != "arm":
            return cls.of("linux", arch)
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
        except OSError:
            cpuinfo = ""
        return cls.of("linux", "arm", _cpu_variant(cpuinfo, machine))

    def compatible(self) -> tuple[Platform, ...]:
        """The image platforms a host of this platform runs, best first (containerd's ``platforms.Only``).

        Returns
        -------
        tuple of Platform
            This platform first, then the older steps of its variant ladder; only itself outside a ladder.
        """
        same = [self]
        number = self.variant[1:] if self.variant.startswith("v") else ""
        if self.architecture == "amd64":
            older = range(int(number) - 1, 0, -1) if number.isdigit() else range(0)
            return (*same, *(Platform.of(self.os, "amd64", f"v{n}") for n in older), Platform(self.os, "386"))
        if self.architecture == "arm":
            older = range(int(number) - 1, 4, -1) if number.isdigit() else range(0)
            return (*same, *(Platform(self.os, "arm", f"v{n}") for n in older))
        if self.architecture == "arm64":
            ladder = _ARM64_LADDER.fullmatch(self.variant)
            if ladder is None or (ladder[1] == "9" and int(ladder[2] or 0) > 7):
                return (self,)
            major, minor = int(ladder[1]), int(ladder[2] or 0)
            steps = [(major, m) for m in range(minor, -1, -1)]
            if major == 9:  # v9.x implements v8.(x+5)
                steps += [(8, m) for m in range(min(minor + 5, 9), -1, -1)]
            arm64 = (Platform(self.os, "arm64", f"v{a}.{b}" if b else f"v{a}") for a, b in steps)
            return (*arm64, *Platform(self.os, "arm", "v8").compatible())
        return (self,)

    def runs(self, image: Platform) -> bool:
        """True when a host of this platform can run an image built for ``image``.

        Parameters
        ----------
        image : Platform
            The platform an image was built for; normalised before it is compared.

        Returns
        -------
        bool
            Whether ``image`` is among :meth:`compatible`.
        """
        return image.normalized() in self.compatible()

    def preference(self, image: Platform) -> int:
        """Lower is better among images this platform runs: its place in :meth:`compatible`.

        Parameters
        ----------
        image : Platform
            A platform this one :meth:`runs`.

        Returns
        -------
        int
            0 for this platform itself, higher for each older step.

        Raises
        ------
        ValueError
            This platform does not run ``image``; ask :meth:`runs` first.
        """
        return self.compatible().index(image.normalized())

    def normalized(self) -> Platform:
        """This platform in normal form (a no-op for platforms made by :meth:`parse` or :meth:`of`).

        Returns
        -------
        Platform
            A new platform, normalised as :meth:`of` does.
        """
        return Platform.of(self.os, self.architecture, self.variant)

    def __str__(self) -> str:
        return "/".join(part for part in (self.os, self.architecture, self.variant) if part)
