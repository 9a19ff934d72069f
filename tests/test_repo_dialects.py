"""Tag paging against each registry dialect of the lab (regkit.lab.dialects): Link as the spec says, ACR's
``orderby=`` kept, ECR's opaque cursors followed as sent and ``n`` within its cap of 1000."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest

import regkit
from regkit.lab.dialectlab import DialectLab
from regkit.steps.listing import tag_list

from .helpers import DIALECT_NAMES, started_dialect_labs

BUSYBOX_TAGS = ["docker", "latest", "manifest-list", "multiarch"]


@pytest.fixture(scope="module")
def dialect_labs(tmp_path_factory: pytest.TempPathFactory, registry) -> Iterator[dict[str, DialectLab]]:
    """Every dialect's lab in front of the session's registry."""
    with started_dialect_labs(tmp_path_factory, registry, DIALECT_NAMES, "tags") as labs:
        yield labs


@pytest.mark.parametrize("name", DIALECT_NAMES)
def test_tags_page_through_each_dialect(dialect_labs, name):
    lab = dialect_labs[name]
    with regkit.Client(insecure=True, auth=lab.credentials, docker_config=False) as client:
        listed = tag_list(f"{lab.registry}/library/busybox", page_size=3, client=client)
        whole = tag_list(f"{lab.registry}/library/busybox", client=client)
    assert sorted(listed.names) == BUSYBOX_TAGS == sorted(whole.names)
    assert listed.pages == 2 and whole.pages == 1
    pages = [e for e in listed.exchanges if "/tags/list" in e.url and e.status == 200]
    first, second = (parse_qs(urlsplit(e.url).query, keep_blank_values=True) for e in pages)
    assert first == {"n": ["3"]}
    assert ("orderby" in second) == (name == "acr")  # the registry's own parameter, kept
    if lab.spec.paging == "ecr":
        assert second["last"][0] not in BUSYBOX_TAGS  # its opaque cursor, as sent; never a rebuilt last=
    else:
        assert second["last"] == ["manifest-list"]
    every = [parse_qs(urlsplit(e.url).query).get("n", ["0"])[0] for e in whole.exchanges if "/tags/list" in e.url]
    assert all(int(n) <= 1000 for n in every)  # ECR refuses more
