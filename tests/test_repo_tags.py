"""Tag lists and the catalogue: paging as the spec says, against the lab's real registry and token service.

Distribution 2.8 pages its catalogue with a relative ``Link`` and answers tag lists whole; the hostile cases
at the end (links that loop or leave the host, pages that repeat, lists that never end, names that are not
tags) come from a handler behind the client's transport seam, as no real registry sends them on purpose.
"""

from __future__ import annotations

import itertools
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import regkit
from regkit.http.mocktransport import Answer, MockTransport
from regkit.steps.listing import registry_catalog, tag_list

from .helpers import cli

SAMPLE_TAGS = {"latest", "docker", "multiarch", "manifest-list"}


def test_tags_of_a_repository_through_the_token_service(open_lab):
    frame = regkit.list_tags(f"{open_lab.front_host}/library/busybox", insecure=True)
    assert list(frame.columns) == ["repository", "tag"]
    assert set(frame["tag"]) == SAMPLE_TAGS and set(frame["repository"]) == {"library/busybox"}
    assert frame.attrs["pages"] == 1


def test_the_catalogue_pages_with_the_registrys_relative_links(open_lab):
    with regkit.Client(insecure=True, auth=open_lab.credentials) as client:
        listed = registry_catalog(open_lab.front_host, page_size=1, client=client)
    assert {"library/busybox", "library/whiteout", "library/layers", "private/busybox"} <= set(listed.names)
    pages = [e for e in listed.exchanges if "/_catalog" in e.url and e.status == 200]
    assert len(pages) == listed.pages >= 4
    # After the first page every URL is the registry's own Link (last=…), n kept as it wrote it.
    for previous, page in itertools.pairwise(pages):
        query = parse_qs(urlsplit(page.url).query)
        assert query["n"] == ["1"] and query["last"][0] in listed.names
        assert previous.header("link")
    assert len(listed.names) == len(set(listed.names))
    assert regkit.catalog(open_lab.front_host, auth=open_lab.credentials, insecure=True).shape[0] == len(listed.names)


def test_an_anonymous_catalogue_is_refused_in_one_line(open_lab):
    with pytest.raises(regkit.AuthError, match="does not list its catalogue to these credentials"):
        registry_catalog(open_lab.front_host, insecure=True)


def test_a_server_without_a_catalogue_says_so(open_lab):
    # The lab's token service is a real HTTP server with no /v2/_catalog.
    host = urlsplit(open_lab.token_url).netloc
    with pytest.raises(regkit.NotFound, match="this registry has no catalogue"):
        registry_catalog(host, insecure=True)


def test_cli_tags_and_catalog_json(open_lab, tmp_path):
    done = cli("tags", f"{open_lab.front_host}/library/busybox", "--insecure-registry", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)["tags"]) == SAMPLE_TAGS
    done = cli("catalog", open_lab.front_host, "--insecure-registry", cwd=tmp_path)
    assert done.returncode == 1 and "catalogue" in done.stderr and "Traceback" not in done.stderr
    done = cli("tags", f"{open_lab.front_host}/library/nothing", "--insecure-registry", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr


# --- answers no real registry gives: a handler behind the transport seam ---------------------------------


def pages_of(tags: list[str], size: int, link: str) -> list[Answer]:
    """Pages of ``tags``, each linking to the next with ``link`` formatted with the page's last tag."""
    chunks = [tags[i : i + size] for i in range(0, len(tags), size)]
    answers = []
    for i, chunk in enumerate(chunks):
        headers = {"Content-Type": "application/json"}
        if i + 1 < len(chunks):
            headers["Link"] = f'<{link.format(last=chunk[-1], page=i + 1)}>; rel="next"'
        answers.append(Answer(200, json.dumps({"name": "r", "tags": chunk}).encode(), headers))
    return answers


def listing(handler) -> tuple[regkit.NameList | Exception, list[str]]:
    asked: list[str] = []

    def recording(request: requests.PreparedRequest) -> Answer:
        asked.append(request.url or "")
        return handler(request)

    with regkit.Client(transport=MockTransport(recording)) as client:
        try:
            return tag_list("registry.test/r", client=client, page_size=3), asked
        except regkit.RegkitError as exc:
            return exc, asked


def served(answers: list[Answer]):
    """A handler answering the i-th request with ``answers[i]`` (the last one again after the end)."""
    count = iter(range(1 << 30))
    return lambda request: answers[min(next(count), len(answers) - 1)]


def test_relative_links_with_extra_parameters_are_followed_as_written():
    tags = [f"t{i}" for i in range(8)]
    got, asked = listing(served(pages_of(tags, 3, "/v2/r/tags/list?last={last}&n=3&orderby=timedesc")))
    assert isinstance(got, regkit.NameList) and list(got.names) == tags and got.pages == 3
    assert asked[0] == "https://registry.test/v2/r/tags/list?n=3"
    assert asked[1] == "https://registry.test/v2/r/tags/list?last=t2&n=3&orderby=timedesc"


def test_without_a_link_a_full_page_asks_from_the_last_tag():
    tags = [f"t{i}" for i in range(5)]
    answers = [Answer(200, json.dumps({"tags": tags[i : i + 3]}).encode()) for i in (0, 3)]
    got, asked = listing(served(answers))
    assert isinstance(got, regkit.NameList) and list(got.names) == tags
    assert asked[1] == "https://registry.test/v2/r/tags/list?n=3&last=t2"


@pytest.mark.parametrize(
    "link,message",
    [
        ("/v2/r/tags/list?n=3&page={page}", None),  # honest paging, for contrast
        ("/v2/r/tags/list?n=3", "loops back to a page already fetched"),
        ("https://elsewhere.test/v2/r/tags/list?page={page}", "points to another server"),
        ("/v2/other/tags/list?page={page}", "not to /v2/r/tags/list"),
    ],
)
def test_links_that_loop_or_leave_are_stopped_with_what_was_listed(link, message):
    tags = [f"t{i}" for i in range(9)]
    got, asked = listing(served(pages_of(tags, 3, link)))
    if message is None:
        assert isinstance(got, regkit.NameList) and list(got.names) == tags
        return
    assert isinstance(got, regkit.ListingStopped) and message in got.message
    assert got.listed[:3] == ("t0", "t1", "t2") and len(asked) <= 2
    assert all("elsewhere" not in url for url in asked)


def test_a_server_ignoring_last_repeats_its_page_and_is_stopped():
    page = Answer(200, json.dumps({"tags": ["a", "b", "c"]}).encode())  # Quay's old ignored last=
    got, asked = listing(served([page]))
    assert isinstance(got, regkit.ListingStopped) and "repeats names already listed" in got.message
    assert got.listed == ("a", "b", "c") and len(asked) == 2


def test_an_endless_list_meets_the_budget_and_empty_pages_end():
    def endless(request):
        page = int(parse_qs(urlsplit(request.url).query).get("page", ["0"])[0])
        tags = [f"p{page}-{i}" for i in range(3)]
        return Answer(
            200, json.dumps({"tags": tags}).encode(), {"Link": f'</v2/r/tags/list?page={page + 1}>; rel="next"'}
        )

    with (
        regkit.Client(transport=MockTransport(endless)) as client,
        pytest.raises(regkit.ListingStopped, match="budget of 20 names") as raised,
    ):
        tag_list("registry.test/r", client=client, page_size=3, max_names=20)
    assert len(raised.value.listed) == 20 and "--max-tags" in (raised.value.hint or "")

    def empty(request):
        page = int(parse_qs(urlsplit(request.url).query).get("page", ["0"])[0])
        return Answer(200, b'{"tags": []}', {"Link": f'</v2/r/tags/list?page={page + 1}>; rel="next"'})

    got, asked = listing(empty)
    assert isinstance(got, regkit.ListingStopped) and "empty pages in a row" in got.message and len(asked) == 3


@pytest.mark.parametrize("bad", ["../etc", "-rm", "a b", "x" * 129, "ta\u0308g"])
def test_names_that_are_not_tags_are_refused(bad):
    body = json.dumps({"tags": ["ok", bad]}).encode()
    got, _ = listing(served([Answer(200, body)]))
    assert isinstance(got, regkit.ListingStopped) and "not a valid name" in got.message
