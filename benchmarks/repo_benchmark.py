"""Listing and sizing a large repository: ``regkit du`` against curl fetching the same manifests 8 at a time.

    python benchmarks/repo_benchmark.py [--tags 2000] [--images 50] [--limit-mib 150]

Starts Debian's docker-registry in a scratch directory and pushes ``--images`` distinct images (one base layer
shared by all, one small layer each) under ``--tags`` tags in all. Then, each in a child process measured by
the runner of ``pull_benchmark`` (wall time, peak RSS): ``regkit du REPO --json`` (the tag list, a HEAD per
tag, a GET per distinct manifest), and curl GETting every tag's manifest, 8 curls at a time. Prints both,
the ratio, and how often regkit fetched each manifest (in process, from its exchanges). Exits 1 when
regkit takes more than twice curl's time, fetches a manifest twice, or peaks above the limit. Not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections import Counter
from pathlib import Path

from pull_benchmark import measure

import regkit
from regkit.analysis.usage import repository_usage
from regkit.lab import imagebuild as ib
from regkit.lab.images import noise
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_blob, push_manifest, push_token
from regkit.oci import mediatypes as mt

REPOSITORY = "bench/many"


def seed(server: RegistryServer, tags: int, images: int) -> None:
    """``images`` images over one shared base layer, pushed under ``tags`` tags (round robin)."""
    base = (ib.tar_layer([ib.file("base.bin", noise(64 << 10, 1))]), "gzip")
    built = [
        ib.build_image([base, (ib.tar_layer([ib.file("own", noise(4096, 10 + i))]), "gzip")]) for i in range(images)
    ]
    with regkit.Client(insecure=True) as client:
        ref = regkit.resolve(f"{server.host}/{REPOSITORY}")
        token = push_token(client, ref)
        for image in built:
            for data in image.blobs.values():
                push_blob(client, ref, token, data)
        for i in range(tags):
            image = built[i % images]
            push_manifest(client, ref, token, image.manifest, image.media_type, f"t{i:05d}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=2000)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--limit-mib", type=int, default=150)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rk-repo-bench-") as scratch_dir:
        scratch = Path(scratch_dir)
        with RegistryServer(scratch / "registry") as server:
            print(f"pushing {args.images} images under {args.tags} tags ...", file=sys.stderr)
            seed(server, args.tags, args.images)
            repo = f"{server.host}/{REPOSITORY}"
            urls = scratch / "urls"
            urls.write_text("".join(f"{server.url}/v2/{REPOSITORY}/manifests/t{i:05d}\n" for i in range(args.tags)))
            accept = f"Accept: {mt.OCI_INDEX}, {mt.OCI_MANIFEST}, {mt.DOCKER_MANIFEST_LIST}, {mt.DOCKER_MANIFEST}"
            curl = f"xargs -P 8 -n {max(args.tags // 8, 1)} curl -sf -o /dev/null -H '{accept}' < {urls}"
            du_seconds, du_rss = measure([sys.executable, "-m", "regkit", "du", repo, "--insecure-registry", "--json"])
            curl_seconds, curl_rss = measure(["sh", "-c", curl])
            usage = repository_usage(repo, insecure=True, all_platforms=True)
    gets = Counter(e.url for e in usage.exchanges if e.method == "GET" and "/manifests/" in e.url)
    heads = sum(1 for e in usage.exchanges if e.method == "HEAD" and e.step == "manifest")
    ratio = du_seconds / curl_seconds
    print(
        f"\n{len(usage.tags)} tags, {len(usage.manifests)} distinct manifests, {heads} HEADs, {sum(gets.values())} GETs"
    )
    print(f"{'command':<34}{'seconds':>9}{'peak RSS MiB':>14}")
    print(f"{'regkit du --json':<34}{du_seconds:>9.2f}{du_rss / 1024:>14.0f}")
    print(f"{'curl, every tag, 8 at a time':<34}{curl_seconds:>9.2f}{curl_rss / 1024:>14.0f}")
    print(f"regkit / curl: {ratio:.2f}")
    failed = []
    if ratio > 2:
        failed.append(f"regkit took {ratio:.2f}x curl's time (target <= 2)")
    if max(gets.values(), default=1) > 1:
        failed.append("a manifest was fetched twice")
    if du_rss / 1024 > args.limit_mib:
        failed.append(f"peak RSS {du_rss / 1024:.0f} MiB is above {args.limit_mib} MiB")
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
