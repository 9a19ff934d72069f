"""What is attached to an image, against the lab: the referrers API (the lab's front), its fallback tag
(distribution 2.8 itself), buildkit attestations inside an index, cosign's signature tag, and a registry
holding hostile referrer graphs (pushed to a real docker-registry: a fallback index pointing back, an
endless chain of artifacts, an SBOM too large to read)."""

from __future__ import annotations

import json

import pytest

import regkit
from regkit.lab import imagebuild as ib
from regkit.lab.artifacts import REPOSITORY, SPDX, fallback_index, push_repository, sbom_artifact
from regkit.lab.upload import push_image
from regkit.oci.artifacts import MAX_PAYLOAD, fallback_tag
from regkit.steps.referrers import MAX_DEPTH, image_tree

from .helpers import cli


def kinds(tree: regkit.ImageTree) -> list[tuple[int, str, str]]:
    return [(row["depth"], row["kind"], row["via"]) for row in tree.rows()]


def test_the_referrers_api_of_the_labs_front_finds_the_sbom(open_lab):
    tree = image_tree(f"{open_lab.referrers_host}/{REPOSITORY}:v1", insecure=True)
    assert tree.referrers_api == "answered"
    rows = tree.rows()
    sbom = next(row for row in rows if row["kind"] == "artifact" and row["via"] == "referrers API")
    assert sbom["artifact_type"] == SPDX and sbom["depth"] == 1
    payload = next(row for row in rows if row["kind"] == "payload")
    assert payload["summary"].startswith("SPDX SBOM: 3 packages (busybox 1.36.1, musl 1.2.4")
    assert any(row["kind"] == "signature" and row["via"].endswith(".sig") for row in rows)
    # The same image straight from distribution 2.8: no API (404), the fallback tag has the same SBOM.
    direct = image_tree(f"{open_lab.front_host}/{REPOSITORY}:v1", insecure=True)
    assert direct.referrers_api.startswith("absent (404)")
    assert [r["digest"] for r in direct.rows() if r["kind"] == "artifact"] == [sbom["digest"]]
    assert any(e.url.endswith(f"/manifests/{fallback_tag(direct.root.digest)}") for e in direct.exchanges)


def test_artifact_type_filtering_is_the_registrys_and_said_so(open_lab):
    ref = f"{open_lab.referrers_host}/{REPOSITORY}:v1"
    only = image_tree(ref, artifact_type=SPDX, insecure=True)
    assert only.referrers_api == "filtered by the registry"
    assert [r["artifact_type"] for r in only.rows() if r["kind"] == "artifact"] == [SPDX]
    none = image_tree(ref, artifact_type="application/vnd.example.nothing", insecure=True)
    assert [r for r in none.rows() if r["kind"] == "artifact"] == []
    assert any("artifactType=application%2Fvnd.example.nothing" in e.url for e in none.exchanges)


def test_buildkit_attestations_sit_under_their_platforms(open_lab):
    tree = image_tree(f"{open_lab.front_host}/{REPOSITORY}:multi", insecure=True)
    assert tree.root.kind == "index" and len(tree.root.children) == 2
    for image in tree.root.children:
        assert image.kind == "image" and str(image.platform) in ("linux/amd64", "linux/arm64/v8")
        (attestation,) = [child for child in image.children if child.kind == "attestation"]
        lines = [payload.summary.line() for payload in attestation.children if payload.summary]
        assert lines[0].startswith("SPDX SBOM: 3 packages")
        assert lines[1] == (
            "SLSA provenance: builder https://github.com/moby/buildkit, "
            "build type https://mobyproject.org/buildkit@v1, 1 material"
        )
    text = tree.text()
    assert "└── " in text and "attestation" in text and "SLSA provenance" in text
    html = tree._repr_html_()
    assert html.count("<details open>") >= 4 and "<script" not in html and "attestation" in html


def test_cli_referrers_json(open_lab, tmp_path):
    done = cli("referrers", f"{open_lab.referrers_host}/{REPOSITORY}:v1", "--insecure-registry", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["referrers_api"] == "answered"
    assert doc["tree"]["children"][0]["children"][0]["summary"]["packages"] == 3
    done = cli("referrers", f"{open_lab.front_host}/{REPOSITORY}:multi", "--insecure-registry", cwd=tmp_path)
    assert done.returncode == 0 and "linux/arm64" in done.stdout and "SPDX SBOM" in done.stdout


# --- hostile referrer graphs, pushed to a real registry ------------------------------------------------------


def push(client, host: str, repository: str, image: ib.BuiltImage, tag: str | None = None) -> None:
    where = f":{tag}" if tag else f"@{image.digest}"
    push_image(client, regkit.resolve(f"{host}/{repository}{where}"), image)


def test_a_fallback_index_pointing_back_and_an_endless_chain_are_bounded(registry):
    repo = "hostile/loop"
    with regkit.Client(insecure=True) as client:
        samples = push_repository(client, registry.host, repo)
        v1 = samples[0].image
        sbom = samples[4].image
        # The SBOM's own fallback tag lists the image it is about: a graph with a cycle.
        push(client, registry.host, repo, fallback_index([v1]), fallback_tag(sbom.digest))
        tree = image_tree(f"{registry.host}/{repo}:v1", client=client)
        notes = [row for row in tree.rows() if row["kind"] == "note"]
        assert len(notes) == 1 and notes[0]["digest"] == str(v1.digest) and notes[0]["depth"] == 2

        # Artifacts of artifacts of …: each one's subject is the one before.
        chain, subject = "hostile/chain", v1
        push(client, registry.host, chain, v1, "v1")
        for _ in range(MAX_DEPTH + 3):
            artifact = sbom_artifact(subject)
            push(client, registry.host, chain, artifact)
            push(client, registry.host, chain, fallback_index([artifact]), fallback_tag(subject.digest))
            subject = artifact
        tree = image_tree(f"{registry.host}/{chain}:v1", client=client)
        depths = [row["depth"] for row in tree.rows() if row["kind"] == "artifact"]
        assert depths == list(range(1, MAX_DEPTH + 1))
        assert f"below depth {MAX_DEPTH}" in tree.rows()[-2]["summary"]


def test_an_sbom_larger_than_the_payload_bound_is_named_not_read(registry):
    repo = "hostile/bigsbom"
    big = b'{"spdxVersion": "SPDX-2.3", "packages": [' + b" " * (MAX_PAYLOAD + 10) + b"]}"
    with regkit.Client(insecure=True) as client:
        image = ib.build_image([(ib.tar_layer([ib.file("a", b"a")]), "gzip")])
        push(client, registry.host, repo, image, "v1")
        artifact = sbom_artifact(image)
        doc = json.loads(artifact.manifest)
        doc["layers"][0] |= {"digest": str(regkit.Digest.of(big)), "size": len(big)}
        raw = json.dumps(doc).encode()
        huge = ib.BuiltImage(
            raw, artifact.media_type, b"{}", {regkit.Digest.of(b"{}"): b"{}", regkit.Digest.of(big): big}
        )
        push(client, registry.host, repo, huge)
        push(client, registry.host, repo, fallback_index([huge]), fallback_tag(image.digest))
        tree = image_tree(f"{registry.host}/{repo}:v1", client=client)
    (payload,) = [row for row in tree.rows() if row["kind"] == "payload"]
    assert "larger than the 4194304 bytes read" in payload["summary"]
    assert not any(f"/blobs/{regkit.Digest.of(big)}" in e.url for e in tree.exchanges)


@pytest.mark.parametrize("missing", ["library/nothing:v1"])
def test_a_missing_image_is_a_clear_error(registry, missing):
    with pytest.raises(regkit.NotFound):
        image_tree(f"{registry.host}/{missing}", insecure=True)


def test_cyclonedx_and_slsa_v1_summaries_and_bounds():
    from regkit.oci.artifacts import summarize

    bom = {"bomFormat": "CycloneDX", "specVersion": "1.5", "components": [{"name": "openssl", "version": "3.0.11"}]}
    assert (
        summarize(json.dumps(bom).encode(), len(json.dumps(bom))).line() == "CycloneDX SBOM: 1 package (openssl 3.0.11)"
    )
    v1 = {
        "_type": "https://in-toto.io/Statement/v1",
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "resolvedDependencies": [{"uri": "git+https://github.com/o/r@refs/heads/main"}],
            },
            "runDetails": {"builder": {"id": "https://github.com/actions/runner"}},
        },
    }
    raw = json.dumps(v1).encode()
    summary = summarize(raw, len(raw))
    assert (summary.builder, summary.build_type, summary.material_count) == (
        "https://github.com/actions/runner",
        "https://actions.github.io/buildtypes/workflow/v1",
        1,
    )
    assert summarize(raw[:10], len(raw)).kind == "unknown"  # a prefix is named, not parsed
    assert summarize(b"\xff\xfe", 2).note == "2 bytes, not JSON"
