"""The Python floor of a verified pull: the least a Python program does to pull blobs into one file.

    python benchmarks/python_floor.py URLS OUTPUT [JOBS]

Reads signed CDN URLs (one per line, as pull_benchmark.py writes them) and fetches them ``JOBS`` at a
time (default 3) with ``http.client`` straight into one pre-sized file at fixed offsets (``os.pwrite``),
hashing every chunk with SHA-256 on the way: the work a verified pull into a tar cannot skip, with no
registry round trips, no redirects, no token, no checks beyond the hash, and no tar headers. Not a
client anyone should use: a measure of what the language and this machine allow.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

CHUNK = 1 << 20


def fetch(url: str, fd: int, offset: int) -> str:
    """GET ``url`` into ``fd`` from ``offset``; the SHA-256 of what came."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc)
    connection.request("GET", f"{parts.path}?{parts.query}")
    response = connection.getresponse()
    digest = hashlib.sha256()
    while chunk := response.read1(CHUNK):
        digest.update(chunk)
        os.pwrite(fd, chunk, offset)
        offset += len(chunk)
    connection.close()
    return digest.hexdigest()


def size_of(url: str) -> int:
    """The blob's length, from a HEAD request (a real pull reads it from the manifest)."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc)
    connection.request("HEAD", f"{parts.path}?{parts.query}")
    response = connection.getresponse()
    response.read()
    connection.close()
    return int(response.getheader("Content-Length") or 0)


def main() -> None:
    urls = Path(sys.argv[1]).read_text().split()
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    sizes = [size_of(url) for url in urls]
    offsets = [sum(sizes[:i]) for i in range(len(sizes))]
    fd = os.open(sys.argv[2], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(fetch, urls, [fd] * len(urls), offsets))
    os.close(fd)


if __name__ == "__main__":
    main()
