"""The repository handle and the step functions over it: one client, one reference, one token, one log."""

from __future__ import annotations

from pathlib import Path

import pytest

import regkit
import regkit.http.client as http_client
from regkit.analysis import analyze
from regkit.oci.digest import Digest
from regkit.oci.manifest import Descriptor


def test_a_handle_binds_client_reference_and_token_and_logs_its_exchanges(open_lab, tmp_path: Path):
    with regkit.Client(insecure=True) as client:
        repo = regkit.Repository(client, f"{open_lab.front_host}/library/busybox:latest")
        token = repo.token()
        assert token.kind == "bearer" and repo.token() is token  # bound once, not probed again
        manifest = repo.manifest(platform="linux/amd64")
        config = repo.blob(manifest.config, tmp_path / "blobs")
        again = repo.blob(manifest.config, tmp_path / "blobs")
        assert config.path.read_bytes() and again.cached and not again.exchanges
        # The handle's log is exactly what it sent, in order: one probe, one token, the manifests, the blob.
        assert repo.exchanges == tuple(client.transcript)
        assert [e.step for e in repo.exchanges][:2] == ["token", "token"]
        assert manifest.exchanges == repo.exchanges[2 : 2 + len(manifest.exchanges)]
        assert repo.exchanges[-len(config.exchanges) :] == config.exchanges
        other = regkit.Repository(client, f"{open_lab.front_host}/library/whiteout:latest")
        other.manifest()
        assert not any(e is f for e in other.exchanges for f in repo.exchanges)
        assert len(client.transcript) == len(repo.exchanges) + len(other.exchanges)


def test_a_failed_download_is_in_the_handles_log_and_the_token_renewed_there(registry, tmp_path: Path):
    with regkit.Client(insecure=True) as client:
        repo = regkit.Repository(client, f"{registry.host}/library/busybox:latest")
        manifest = repo.manifest()
        missing = Descriptor(manifest.config.media_type, Digest.of(b"no such blob"), 12)
        with pytest.raises(regkit.NotFound):
            repo.blob(missing, tmp_path / "blobs")
        # The part that downloaded logged its 404 here although it raised; nothing was left half-written.
        assert repo.exchanges[-1].status == 404 and repo.exchanges == tuple(client.transcript)
        assert not list((tmp_path / "blobs").rglob("*" + missing.digest.hex))
        assert [e.step for e in repo.exchanges].count("token") == 1  # one probe for manifest and blob alike


def test_a_small_blob_is_read_whole_and_checked_against_its_descriptor(registry):
    with regkit.Client(insecure=True) as client:
        repo = regkit.Repository(client, f"{registry.host}/library/busybox:latest")
        config = repo.manifest().config
        assert Digest.of(repo.read_blob(config, "image config")) == config.digest
        # The registry's bytes against a descriptor promising one more: refused, naming the response.
        with pytest.raises(regkit.SizeMismatch, match=r"image config .* bytes, the descriptor says") as longer:
            repo.read_blob(Descriptor(config.media_type, config.digest, config.size + 1), "image config")
        assert longer.value.exchange is repo.exchanges[-1] and repo.exchanges[-1].status == 200
        # One promising one fewer: no more than that is read.
        with pytest.raises(regkit.TransportError, match="larger than the"):
            repo.read_blob(Descriptor(config.media_type, config.digest, config.size - 1), "image config")


def test_pull_reports_the_exchanges_of_its_own_repository(registry, tmp_path: Path):
    with regkit.Client(insecure=True) as client:
        regkit.get_manifest(f"{registry.host}/library/layers:latest", client=client)  # another step, before
        before = len(client.transcript)
        result = regkit.pull(f"{registry.host}/library/busybox:latest", tmp_path / "b.tar", client=client, cache=False)
        # Concurrent downloads enter the transcript as they begin, a thread's timestamp and its append
        # not being one step: the same exchanges, in the order they started.
        assert result.exchanges == tuple(sorted(tuple(client.transcript)[before:], key=lambda e: e.started))
        assert {e.step for e in result.exchanges} == {"token", "manifest", "blob"}


@pytest.mark.parametrize(
    "call",
    [
        lambda ref, client, tmp: regkit.get_token(ref, client=client, insecure=True),
        lambda ref, client, tmp: regkit.get_manifest(ref, client=client, auth=("u", "p")),
        lambda ref, client, tmp: regkit.pull(ref, tmp / "x.tar", client=client, endpoints=regkit.Endpoints()),
        lambda ref, client, tmp: analyze(ref, client=client, insecure=False),
    ],
)
def test_a_client_and_client_options_together_are_refused_before_any_request(registry, tmp_path, call):
    with regkit.Client(insecure=True) as client:
        with pytest.raises(regkit.UsageError, match="either client= or client options") as raised:
            call(f"{registry.host}/library/busybox:latest", client, tmp_path)
        assert len(client.transcript) == 0
    option = str(raised.value).split("(")[1].split(")")[0]
    assert option in ("insecure", "auth", "endpoints")


def test_a_client_a_step_builds_is_closed_afterwards(registry, tmp_path, monkeypatch):
    closed: list[http_client.Client] = []
    close = http_client.Client.close

    def recording_close(self: http_client.Client) -> None:
        closed.append(self)
        close(self)

    monkeypatch.setattr(http_client.Client, "close", recording_close)  # a spy: the real close still runs
    ref = f"{registry.host}/library/busybox:latest"
    manifest = regkit.get_manifest(ref, insecure=True)
    regkit.fetch_blob(ref, manifest.config, tmp_path / "blobs", insecure=True)
    regkit.pull(ref, tmp_path / "b.tar", insecure=True)
    assert len(closed) == 3
    with regkit.Client(insecure=True) as client:
        regkit.get_manifest(ref, client=client)
        assert len(closed) == 3  # a client passed in stays open for the caller
