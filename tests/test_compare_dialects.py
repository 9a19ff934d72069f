"""The same pull from several dialect labs side by side (regkit.compare_dialects), on labs sharing one registry."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

import regkit
from regkit.errors import LabError, UsageError
from regkit.lab import Lab
from regkit.lab.dialectlab import DialectLab


@pytest.fixture(scope="module")
def labs() -> Iterator[dict[str, DialectLab]]:
    """Three dialects (Basic only, a relative redirect, a separate token host) before one registry."""
    started = Lab.dialects_for_kernel("ecr", "gar", "gitlab")
    try:
        yield started
    finally:
        for lab in reversed(list(started.values())):  # the registry's owner last
            lab.down()


def test_dialect_labs_share_the_first_ones_registry_and_come_back_on_a_second_call(labs):
    assert labs["gar"].registry_server.port == labs["gitlab"].registry_server.port == labs["ecr"].settings.registry
    assert "registry" not in labs["gar"].running() and labs["ecr"].running()["registry"]
    assert Lab.dialects_for_kernel("ecr", "gar", "gitlab") == labs
    with pytest.raises(LabError, match="'nosuch' is unknown"):
        Lab.dialects_for_kernel("ecr", "nosuch")


def test_rows_say_what_each_registry_answered(labs):
    probes = {
        name: regkit.diagnose(f"{lab.registry}/library/busybox", auth=lab.credentials, insecure=True)
        for name, lab in labs.items()
    }
    comparison = regkit.compare_dialects(probes)
    rows = {row.name: row for row in comparison.rows}
    assert rows["ecr"].scheme == "Basic" and rows["ecr"].token_endpoint == "" and rows["ecr"].lifetime == "—"
    assert rows["ecr"].refused == ("HEAD 403",) and "X-Amz-Signature" in rows["ecr"].signed_keys
    assert rows["gar"].challenge.startswith('Bearer realm="http://<registry>/v2/token",service=us-docker.pkg.dev')
    assert (rows["gar"].expires_in, rows["gar"].redirect_status) == (3600, 302)
    assert rows["gar"].redirect_target == "same host (relative Location)" and rows["gar"].refused == ()
    gitlab = labs["gitlab"]
    assert rows["gitlab"].token_endpoint == f"GET {gitlab.auth_host}/jwt/auth"
    assert rows["gitlab"].lifetime == "60 s (assumed: no expires_in)" and rows["gitlab"].redirect_status == 307
    assert len({row.digest for row in rows.values()}) == 1 and not any(
        r.authorization_to_storage for r in rows.values()
    )
    summary = comparison.summary
    assert (
        "3 registries served the same manifest sha256:" in summary
        and "Challenges: 2 Bearer, Basic only from ecr." in summary
    )
    assert (
        "1 of 2 token answers carry no expires_in (gitlab)" in summary
        and "302 from gar, 307 from the other 2" in summary
    )
    assert list(comparison.frame().index) == ["ecr", "gar", "gitlab"]
    page = comparison._repr_html_()
    assert "The same pull from each registry" in page and "relative Location" in page
    assert gitlab.password not in page + summary


def test_bad_input_is_a_usage_error():
    with pytest.raises(UsageError, match="at least one"):
        regkit.compare_dialects({})
    with pytest.raises(UsageError, match="recorded no exchanges"):
        regkit.compare_dialects({"empty": SimpleNamespace(exchanges=())})
