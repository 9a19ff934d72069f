"""The Python peers of the pull benchmark, each pulling an image's blobs into files the way it is meant to be used.

    python benchmarks/peers.py dxf|oras HOST REPOSITORY TAG OUTDIR

- ``dxf``: python-dxf fetches the manifest, then each blob (``pull_blob`` checks its digest) into a file.
- ``oras``: oras-py fetches the manifest, then each blob with ``download_blob`` (no digest check).

Both download one blob after the other (neither library offers concurrency). Installed by benchmarks/setup.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def anonymous_token(host: str, repository: str) -> str:
    """A pull token from the registry's token service (python-dxf asks for tokens over HTTPS only)."""
    import re

    import requests

    challenge = requests.get(f"http://{host}/v2/", timeout=30).headers["WWW-Authenticate"]
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    scope = f"repository:{repository}:pull"
    answer = requests.get(fields["realm"], params={"service": fields["service"], "scope": scope}, timeout=30)
    answer.raise_for_status()
    body = answer.json()
    return str(body.get("token") or body["access_token"])


def with_dxf(host: str, repository: str, tag: str, out: Path) -> None:
    from dxf import DXF

    dxf = DXF(host, repository, insecure=True)
    dxf.token = anonymous_token(host, repository)
    manifest = json.loads(dxf.get_manifest(tag))
    for blob in [manifest["config"], *manifest["layers"]]:
        with open(out / blob["digest"].split(":")[1], "wb") as handle:
            for chunk in dxf.pull_blob(blob["digest"], chunk_size=1 << 20):
                handle.write(chunk)


def with_oras(host: str, repository: str, tag: str, out: Path) -> None:
    import oras.provider

    registry = oras.provider.Registry(hostname=host, insecure=True)
    target = f"{host}/{repository}:{tag}"
    manifest = registry.get_manifest(target)
    for blob in [manifest["config"], *manifest["layers"]]:
        registry.download_blob(target, blob["digest"], str(out / blob["digest"].split(":")[1]))


def main() -> None:
    tool, host, repository, tag, out = sys.argv[1:6]
    Path(out).mkdir(parents=True, exist_ok=True)
    {"dxf": with_dxf, "oras": with_oras}[tool](host, repository, tag, Path(out))


if __name__ == "__main__":
    main()
