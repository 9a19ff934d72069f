"""What each tag costs, checked against the registry's own garbage collection.

The acceptance test: in a real docker-registry (deletes enabled), delete one tag's manifest, run
``docker-registry garbage-collect --delete-untagged`` on its config, and compare the bytes that left the
blob store with the bytes ``du`` called unique to that tag.
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

import regkit
from regkit.analysis.usage import repository_usage
from regkit.display.usage_charts import usage_matrix_chart
from regkit.lab.artifacts import REPOSITORY, push_repository, repository_samples
from regkit.lab.registry import RegistryServer
from regkit.lab.upload import push_image

from .helpers import cli


@pytest.fixture
def app_registry(tmp_path: Path) -> Iterator[RegistryServer]:
    """A registry of its own (the test deletes from it) holding library/app."""
    with RegistryServer(tmp_path / "registry") as server, regkit.Client(insecure=True) as client:
        push_repository(client, server.host)
        yield server


@pytest.mark.parametrize("tag", ["v1", "v2"])
def test_unique_bytes_are_what_delete_untagged_collection_frees(tmp_path, tag):
    # Tags of single images only: distribution 2.8's --delete-untagged mishandles index children (below).
    with RegistryServer(tmp_path / "registry") as server, regkit.Client(insecure=True) as client:
        for sample in repository_samples():
            if sample.tag in ("v1", "v2", "v2.1") or (sample.tag or "").endswith(".sig"):
                push_image(client, regkit.resolve(f"{server.host}/{REPOSITORY}:{sample.tag}"), sample.image)
        usage = repository_usage(f"{server.host}/{REPOSITORY}", client=client)
        assert usage.stored_bytes == server.stored_bytes()  # every blob in the store is some tag's
        row = next(r for r in usage.tag_rows() if r["tag"] == tag)
        assert server.delete_tag(REPOSITORY, tag) == row["digest"]
        freed = server.garbage_collect()
        assert server.pid is not None  # started again after the collection
        assert usage.collected(tag, freed).agrees == (tag == "v1")
    if tag == "v2":  # v2.1 holds the same manifest: deleting by digest takes both, so nothing is unique to v2
        assert row["unique_bytes"] == 0 and freed > 0
        pair = sum(r["unique_bytes"] for r in usage.tag_rows() if r["tag"] in ("v2", "v2.1"))
        assert pair == 0
        return
    assert freed == row["unique_bytes"] > 0 and row["shared_bytes"] > 0  # the base layer stays for v2


@pytest.mark.parametrize("tag", ["v1", "multi"])
def test_unique_bytes_of_an_index_are_what_collection_frees_once_its_manifests_go(app_registry, tag):
    usage = repository_usage(f"{app_registry.host}/{REPOSITORY}", insecure=True)
    assert usage.stored_bytes == app_registry.stored_bytes()
    row = next(r for r in usage.tag_rows() if r["tag"] == tag)
    users = usage.users()
    # The tag and the manifests only it reached (an index's platforms and attestations), deleted as a client would.
    own = [digest for digest in usage.reach(tag) if digest in usage.manifests and users[digest] == {tag}]
    assert len(own) == (5 if tag == "multi" else 1)
    for digest in own:
        app_registry.delete_manifest(REPOSITORY, str(digest))
    assert app_registry.garbage_collect(delete_untagged=False) == row["unique_bytes"] > 0


def test_delete_untagged_in_distribution_2_8_frees_the_contents_of_index_children(app_registry):
    # Nothing deleted, yet 2.8's --delete-untagged frees the configs and layers of every manifest reached only
    # through an index (the platforms and attestations of multi, the SBOM behind the fallback tag): it marks
    # an untagged manifest's own blob from the index but never what that manifest points to.
    usage = repository_usage(f"{app_registry.host}/{REPOSITORY}", insecure=True)
    sizes = {digest: size for tag in usage.tags for digest, size in usage.reach(tag).items()}
    kept = set(usage.tags.values())  # what 2.8 marks: tagged manifests and what they point to directly
    for digest in usage.tags.values():
        kept |= {d.digest for d in (*usage.manifests[digest].blobs, *usage.manifests[digest].children)}
    at_risk = {digest: size for digest, size in sizes.items() if digest not in kept}
    assert app_registry.garbage_collect() == sum(at_risk.values()) > 0


def test_rows_totals_layers_and_each_manifest_fetched_once(app_registry):
    with ThreadPoolExecutor(max_workers=3) as pool:
        usage = repository_usage(f"{app_registry.host}/{REPOSITORY}", all_platforms=True, executor=pool, insecure=True)
    heads = [e for e in usage.exchanges if e.method == "HEAD" and e.step == "manifest"]
    gets = Counter(e.url.rsplit("/", 1)[1] for e in usage.exchanges if e.method == "GET" and "/manifests/" in e.url)
    assert len(heads) == len(usage.tags) == 6 and set(gets.values()) == {1}
    assert len(gets) == len(usage.manifests) == 10  # v2 and v2.1 share one; index children once
    rows = usage.frame()
    assert list(rows.columns) == [
        "tag", "platform", "manifest", "layers", "compressed_size", "shared_bytes", "unique_bytes",
    ]  # fmt: skip
    multi = rows[rows["tag"] == "multi"]
    assert sorted(multi["platform"]) == ["linux/amd64", "linux/arm64/v8"]
    base = usage.layer_rows()[0]
    assert base["users"] == 4 and base["tags"] == ["multi", "v1", "v2", "v2.1"]
    totals = usage.totals()
    assert totals["stored_bytes"] < totals["total_bytes"] and totals["dedup_ratio"] > 2
    matrix = usage.matrix()
    assert matrix.shape == (6, len(usage.layer_rows())) and (matrix.iloc[:, 0] > 0).sum() == 4
    figure = usage_matrix_chart(usage)
    assert figure.axes and "library/app" in figure.axes[0].get_title()
    assert "freed if deleted alone" in usage._repr_html_()
    only = repository_usage(f"{app_registry.host}/{REPOSITORY}", tags="v2*", insecure=True)
    assert set(only.tags) == {"v2", "v2.1"} and all(r["unique_bytes"] == 0 for r in only.tag_rows())


def test_cli_du_table_json_and_csv(app_registry, tmp_path):
    repo = f"{app_registry.host}/{REPOSITORY}"
    done = cli("du", repo, "--insecure-registry", "--platform", "linux/amd64", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "TAG" in done.stdout and "dedup ratio" in done.stdout
    doc = json.loads(cli("du", repo, "--insecure-registry", "--json", cwd=tmp_path).stdout)
    assert doc["tags"] == 6 and {r["tag"] for r in doc["tag_rows"]} >= {"v1", "v2", "multi"}
    done = cli("du", repo, "--insecure-registry", "--csv", "--all-platforms", "--tags", "multi", cwd=tmp_path)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["platform"] for r in rows] == ["linux/amd64", "linux/arm64/v8"]
    done = cli("du", repo, "--insecure-registry", "--all-platforms", "--platform", "linux/amd64", cwd=tmp_path)
    assert done.returncode == 2 and "not both" in done.stderr


def test_the_scan_runs_on_a_dask_cluster_through_its_executor(app_registry):
    from distributed import Client as DaskClient
    from distributed import LocalCluster

    repo = f"{app_registry.host}/{REPOSITORY}"
    local = repository_usage(repo, all_platforms=True, insecure=True)
    with (
        LocalCluster(n_workers=2, threads_per_worker=2, processes=True, dashboard_address=None) as cluster,
        DaskClient(cluster) as dask,
        regkit.Client(insecure=True) as client,
    ):
        usage = repository_usage(repo, all_platforms=True, executor=dask.get_executor(), client=client)
    assert usage.tag_rows() == local.tag_rows() and usage.rows() == local.rows()
    # The manifest requests were made in the workers' processes: this process's client saw only the token
    # probe and the tag list, the result has every exchange.
    here = {id(e) for e in client.transcript}
    remote = [e for e in usage.exchanges if e.step == "manifest"]
    assert len(remote) == len(usage.tags) + len(usage.manifests)
    assert not any(id(e) in here for e in remote)
    assert [e.step for e in client.transcript] == ["token", "list"]
