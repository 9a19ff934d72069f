"""Layer compression: choosing a target format and converting while streaming, checked by diff_id.

The uncompressed stream is charged chunk by chunk to the pull's :class:`~regkit.oci.budgets.Meter`, so a
decompression bomb stops the conversion as soon as it passes a budget, not after it filled the disk.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import sys
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

from ..errors import DigestMismatch, InvalidOption, ManifestError
from ..oci import mediatypes as mt
from ..oci.budgets import Meter
from ..oci.digest import Digest, Verifier
from ..oci.manifest import Descriptor
from .interrupt import checkpoint
from .store import BlobStore

LAYER_FORMATS = ("auto", "keep", "gzip", "tar")
_CHUNK = 1 << 20
# Level 1: conversion should cost little CPU next to the download; the gain of 6 is a few percent.
GZIP_LEVEL = 1


def target_compression(choice: str, source: str | None, *, docker_format: bool) -> str | None:
    """The compression a layer should have in the output, or None to keep it as served.

    ``auto`` keeps what every ``docker load`` reads (gzip, tar) and turns zstd into tar for the
    docker format, because older engines (Debian's Docker 20.10) cannot read zstd layers.
    """
    if choice == "keep" or source is None:
        return None
    if choice == "auto":
        return mt.TAR if docker_format and source == mt.ZSTD else None
    return None if choice == source else choice


# gzip readers by name; "zlib-ng" (the zlib-ng wheel) reads about 3x as fast as "zlib" (the standard
# library) on layer tars, ahead of ISA-L's igzip (README "Performance"). zlib stays for when the wheel is missing.
GZIP_READERS = ("zlib-ng", "zlib")


def gzip_reader() -> str:
    """The gzip reader used: zlib-ng when its wheel is installed, else zlib; ``$REGKIT_GZIP`` may name one."""
    wanted = os.environ.get("REGKIT_GZIP")
    if wanted == "zlib" or (wanted is None and importlib.util.find_spec("zlib_ng") is None):
        return "zlib"
    if wanted not in (None, "zlib-ng"):
        raise InvalidOption(f"REGKIT_GZIP={wanted!r}: the gzip readers are {', '.join(GZIP_READERS)}")
    return "zlib-ng"


def corrupt_stream_errors() -> tuple[type[Exception], ...]:
    """What the readers of :func:`uncompressed` raise on a corrupt or truncated stream."""
    errors: list[type[Exception]] = [EOFError, zlib.error, gzip.BadGzipFile]
    for module, name in (("zlib_ng.zlib_ng", "error"), ("zstandard", "ZstdError")):
        if module in sys.modules:  # only a reader in use can have raised it
            errors.append(getattr(sys.modules[module], name))
    return tuple(errors)


@contextmanager
def uncompressed(handle: BinaryIO, compression: str) -> Iterator[BinaryIO]:
    """A reader of the tar stream inside a layer blob (gzip by :func:`gzip_reader`)."""
    if compression == mt.GZIP:
        if gzip_reader() == "zlib-ng":
            from zlib_ng import gzip_ng  # on use: start-up does not pay for it

            with gzip_ng.GzipFile(fileobj=handle, mode="rb") as reader:
                yield reader  # type: ignore[misc]
        else:
            with gzip.GzipFile(fileobj=handle, mode="rb") as reader:
                yield reader  # type: ignore[misc]
    elif compression == mt.ZSTD:
        import zstandard  # on use: a pull that converts nothing never needs it

        with zstandard.ZstdDecompressor().stream_reader(handle, read_across_frames=True) as reader:
            yield reader  # type: ignore[misc]
    else:
        yield handle


class _Writer(Protocol):
    def write(self, data: bytes, /) -> int: ...
    def flush(self) -> None: ...


@contextmanager
def _compressed(handle: _Writer, compression: str) -> Iterator[_Writer]:
    """A writer that compresses into ``handle``; gzip with a zero mtime so output is reproducible."""
    if compression == mt.GZIP:
        with gzip.GzipFile(fileobj=handle, mode="wb", compresslevel=GZIP_LEVEL, mtime=0, filename="") as writer:
            yield writer
    else:
        yield handle


def convert_layer(
    store: BlobStore,
    layer: Descriptor,
    diff_id: Digest,
    target: str,
    *,
    oci: bool,
    index: int,
    meter: Meter | None = None,
) -> Descriptor:
    """Write ``layer`` re-compressed as ``target`` into the store; its tar must hash to ``diff_id``.

    ``meter`` (the image's budgets) is charged every uncompressed chunk before it is written, into the
    cache as into a temporary store; a pending signal stops the conversion after the chunk (1 MiB, a few
    milliseconds even for a decompression bomb) and the partial file is removed.
    """

    meter = (meter or Meter()).layer(f"layer {index} ({layer.digest})")
    source = mt.layer_compression(layer.media_type)
    if source is None:
        raise ManifestError(f"layer {index} has media type {layer.media_type}, which regkit cannot convert")
    diff = hashlib.new(diff_id.algorithm)
    with (
        open(store.path(layer.digest), "rb") as raw,
        store.writer(None, None, f"converted layer {index}") as (
            out,
            verifier,
        ),
    ):
        try:
            with uncompressed(raw, source) as tar_stream, _compressed(_Tee(out, verifier), target) as sink:
                while chunk := tar_stream.read(_CHUNK):
                    checkpoint()
                    meter.bytes(len(chunk))
                    diff.update(chunk)
                    sink.write(chunk)
        except corrupt_stream_errors() as exc:
            raise DigestMismatch(f"layer {index} ({layer.digest}) is not valid {source}: {exc}") from None
        if diff.hexdigest() != diff_id.hex:
            raise DigestMismatch(
                f"layer {index} ({layer.digest}) uncompresses to {diff_id.algorithm}:{diff.hexdigest()}, "
                f"but the config's diff_ids[{index}] is {diff_id}"
            )
    return Descriptor(mt.layer_media_type(target, oci=oci), verifier.actual, verifier.count)


class _Tee:
    """A write-only file that feeds a verifier (digest and size of the converted blob) on the way."""

    def __init__(self, out: BinaryIO, verifier: Verifier) -> None:
        self.out = out
        self.verifier = verifier

    def write(self, data: bytes) -> int:
        self.verifier.update(data)
        return self.out.write(data)

    def flush(self) -> None:
        self.out.flush()
