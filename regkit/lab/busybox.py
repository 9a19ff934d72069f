"""A statically linked busybox, from Debian's busybox-static, to build test images without any registry."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from ..errors import LabError
from .process import SETUP_SCRIPT

SYSTEM_BUSYBOX = Path("/bin/busybox")
BUSYBOX_PACKAGE = "busybox-static"
# Where scripts/setup keeps the package's .deb (apt's own cache may be cleaned), then apt's cache.
DEB_DIRS = (Path("/var/cache/regkit/debs"), Path("/var/cache/apt/archives"))
_ELF_MAGIC = b"\x7fELF"
_PT_INTERP = 3


def busybox_binary(cache_dir: Path, system_binary: Path = SYSTEM_BUSYBOX) -> Path:
    """A static busybox: ``system_binary`` if static, else one unpacked from busybox-static into ``cache_dir``."""
    # The dynamically linked busybox (package "busybox") would need the host's libc inside the image.
    if is_static_elf(system_binary):
        return system_binary
    unpacked = Path(cache_dir) / BUSYBOX_PACKAGE
    binary = unpacked / "bin" / "busybox"
    if not is_static_elf(binary):
        _unpack_package(Path(cache_dir), unpacked)
    if not is_static_elf(binary):
        raise LabError(f"{BUSYBOX_PACKAGE} unpacked into {unpacked} holds no static {binary.name}")
    return binary


def is_static_elf(path: Path) -> bool:
    """True for an ELF file without a program interpreter, i.e. one that loads no shared libraries."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return False
    if data[:4] != _ELF_MAGIC:
        return False
    order = "<" if data[5] == 1 else ">"
    if data[4] == 2:  # 64-bit header
        (table_offset,) = struct.unpack_from(f"{order}Q", data, 32)
        entry_size, entry_count = struct.unpack_from(f"{order}HH", data, 54)
    else:
        (table_offset,) = struct.unpack_from(f"{order}I", data, 28)
        entry_size, entry_count = struct.unpack_from(f"{order}HH", data, 42)
    # Each program header starts with its 32-bit type; PT_INTERP names the dynamic loader.
    types = {struct.unpack_from(f"{order}I", data, table_offset + i * entry_size)[0] for i in range(entry_count)}
    return _PT_INTERP not in types


def _unpack_package(cache_dir: Path, target: Path) -> None:
    """Unpack busybox-static's .deb into ``target``: the one scripts/setup kept, else one apt downloads."""
    download_dir = cache_dir / "debs"
    debs = local_debs(download_dir)
    if not debs:  # only without scripts/setup's copy: the network (Debian mirrors only)
        download_dir.mkdir(parents=True, exist_ok=True)
        _run(["apt-get", "download", BUSYBOX_PACKAGE], cwd=download_dir)
        debs = local_debs(download_dir)
    if not debs:
        raise LabError(f"apt-get download {BUSYBOX_PACKAGE} left no .deb in {download_dir}")
    _run(["dpkg-deb", "-x", str(debs[-1]), str(target)], cwd=cache_dir)


def local_debs(*extra: Path) -> list[Path]:
    """busybox-static .debs already on this machine (scripts/setup keeps one), oldest version first."""
    found = [deb for folder in (*extra, *DEB_DIRS) for deb in folder.glob(f"{BUSYBOX_PACKAGE}_*.deb")]
    return sorted(found, key=lambda deb: deb.name)


def _run(argv: list[str], cwd: Path) -> None:
    """Run a packaging command; a failure becomes a LabError with its stderr."""
    try:
        result = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as exc:
        raise LabError(f"{argv[0]} is missing: busybox can only be fetched on Debian") from exc
    if result.returncode != 0:
        raise LabError(
            f"{' '.join(argv)} failed: {result.stderr.strip()}",
            hint=f"run {SETUP_SCRIPT} as root (it runs apt-get update and installs {BUSYBOX_PACKAGE})",
        )
