"""Display: escaped HTML reprs, pandas tables, matplotlib charts and widgets, on exchanges of real pulls."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

import regkit
from regkit.display import charts, html, tables
from regkit.display.widgets import STEPS, LayerExplorer, PullStepper, WidgetProgress, share
from regkit.http.exchange import Exchange
from regkit.lab import Lab
from regkit.oci.challenge import parse_challenges

SCRIPT = "<script>alert(1)</script>"


def timed(started: float, total: float, *, step: str = "blob", headers: float = 0.001, size: int = 0) -> Exchange:
    """An exchange that started at ``started`` and took ``total`` seconds."""
    exchange = Exchange.begin(step, "GET", f"http://r.example/{step}/{started}", {}, started)
    exchange.status, exchange.reason = 200, "OK"
    exchange.time_to_headers, exchange.total_time, exchange.bytes_received = headers, total, size
    return exchange


def bearer(claims: dict[str, object]) -> regkit.Token:
    """A Bearer token whose value is a JWT with these claims."""
    parts = [b'{"alg":"RS256"}', json.dumps(claims).encode(), b"the-signature-bytes"]
    value = ".".join(base64.urlsafe_b64encode(p).rstrip(b"=").decode() for p in parts)
    return regkit.Token("bearer", value, service="lab", expires_in=300, obtained_at=1e10)


@pytest.fixture(scope="module")
def pulled(tmp_path_factory) -> Iterator[tuple[regkit.Client, regkit.PullResult]]:
    """A pull of the whiteout image (three layers) from the lab: a 401 challenge, a token, CDN redirects."""
    work = tmp_path_factory.mktemp("display")
    with Lab(work / "lab", mode="open") as lab:
        client = regkit.Client(insecure=True)
        yield client, regkit.pull(f"{lab.front_host}/library/whiteout", work / "w.tar", client=client, cache=False)


def test_hostile_values_are_escaped_everywhere():
    exchange = timed(0.0, 0.1)
    exchange.response_headers = [("X-Evil", SCRIPT)]
    exchange.body_preview = SCRIPT
    exchange.note = SCRIPT
    error = regkit.UnexpectedResponse(f"bad {SCRIPT}", exchange=exchange, hint=SCRIPT)
    for page in (exchange._repr_html_(), html.exchanges_html([exchange]), error._repr_html_()):
        assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_exchange_html_has_header_tables_coloured_status_and_curl(pulled):
    client, _ = pulled
    challenge, redirect = client.transcript[0], next(e for e in client.transcript if e.status == 307)
    page = html.exchange_html(challenge)
    assert '<span class="bad">✗ error: 401 Unauthorized</span>' in page and "<th>response header</th>" in page
    assert "Www-Authenticate" in page and "as curl" in page and "<details open>" in page
    assert '<span class="redirect">↪ redirect: 307' in html.exchange_html(redirect)
    assert repr(client.transcript) == f"<Transcript of {len(client.transcript)} exchanges>"


def test_token_html_shows_claims_and_time_left_but_never_the_token():
    token = bearer({"iss": "lab-issuer", "sub": "", "exp": 1e10 + 300, "access": [{"type": "repository"}]})
    page = token._repr_html_()
    signature = token.value.rsplit(".", 1)[1]
    assert token.value not in page and signature not in page
    assert "lab-issuer" in page and "(anonymous)" in page and "time left" in page and "RS256" in page


def test_challenge_and_manifest_and_pull_html(pulled):
    _, result = pulled
    (challenge,) = parse_challenges('Bearer realm="https://auth.example/token",service="x<y"')
    assert "x&lt;y" in html.challenge_html(challenge) and "realm" in html.challenge_html(challenge)
    manifest_page = result.manifest._repr_html_()
    assert "3 layers" in manifest_page and result.manifest.layers[1].digest.short in manifest_page
    pull_page = result._repr_html_()
    assert str(result.manifest.digest) in pull_page and f"{len(result.exchanges)} requests" in pull_page


def test_lanes_separate_concurrent_requests_and_reuse_free_ones():
    first, overlapping, after_first, later = timed(0.0, 1.0), timed(0.5, 1.0), timed(1.2, 0.5), timed(3.0, 0.1)
    assert charts.lanes([first, overlapping, after_first, later]) == [0, 1, 0, 0]
    assert charts.lanes([overlapping, first]) == [1, 0]  # placed by start time, not list order
    three_at_once = [timed(0.0, 1.0), timed(0.01, 1.0), timed(0.02, 1.0)]
    assert sorted(charts.lanes(three_at_once)) == [0, 1, 2] and charts.lanes([]) == []


def test_charts_return_figures_without_pyplot(pulled):
    _, result = pulled
    before = plt.get_fignums()
    figures = [
        charts.waterfall(result.exchanges),
        charts.throughput(result.exchanges),
        charts.layer_sizes(result.manifest.layers),
        charts.waterfall([]),
    ]
    assert all(isinstance(f, Figure) for f in figures) and plt.get_fignums() == before
    lanes = max(charts.lanes(result.exchanges)) + 1
    assert len(figures[0].axes[0].get_yticks()) == lanes
    labels = [t.get_text() for t in figures[2].axes[0].texts]
    assert labels == [html.human_size(d.size) for d in result.manifest.layers]


def test_layers_table_matches_history_to_layers(pulled):
    _, result = pulled
    history = [
        {"created_by": "ADD layer0 /"},
        {"created_by": "ENV A=1", "empty_layer": True},
        {"created_by": "ADD layer1 /"},
        {"created_by": "RUN rm /data/big.bin"},
    ]
    config = {"history": history, "rootfs": {"diff_ids": ["sha256:" + "ab" * 32]}}
    table = tables.layers_table(result.manifest, config)
    assert tuple(table.columns) == tables.LAYER_COLUMNS and table.index.name == "layer"
    assert list(table["created by"]) == ["ADD layer0 /", "ADD layer1 /", "RUN rm /data/big.bin"]
    assert list(table["diff_id"]) == ["abababababab", "", ""]
    assert list(table["bytes"]) == [d.size for d in result.manifest.layers]
    assert list(tables.layers_table(result.manifest)["created by"]) == ["", "", ""]
    assert [c for c in table.columns if "_" in c] == ["diff_id"]  # readable headers, not raw names


def test_layers_table_reads_a_malformed_config_as_analyze_does(pulled):
    _, result = pulled
    history = [{"created_by": "ENV A=1", "empty_layer": "true"}, {"created_by": None}, "not a step"]
    config = {"history": history, "rootfs": {"diff_ids": ["sha256:abc", 7, "sha256:" + "cd" * 32, "x"]}}
    table = tables.layers_table(result.manifest, config)
    # Only the boolean true marks an empty layer, as in regkit.analysis.image.history_steps.
    assert list(table["created by"]) == ["ENV A=1", "", ""]
    assert list(table["diff_id"]) == ["", "", "cdcdcdcdcdcd"]
    assert list(tables.layers_table(result.manifest, {"rootfs": []})["diff_id"]) == ["", "", ""]


def test_exchanges_table_is_readable(pulled):
    client, _ = pulled
    table = tables.exchanges_table(list(client.transcript))
    assert list(table.columns[:3]) == ["step", "method", "status"]
    assert table["status"].iloc[0] == 401 and table["start_ms"].iloc[0] == 0.0
    assert table["path"].iloc[0].endswith("/manifests/latest") and "5.0 MiB" in set(table["received"])
    redirects = table[table["status"] == 307]
    assert len(redirects) == 4 and set(redirects["step"]) == {"blob"}


def test_widget_progress_has_a_bar_per_blob(pulled):
    _, result = pulled
    progress = WidgetProgress()
    layer = result.manifest.layers[0]
    progress.step("blobs", "downloading")
    progress.begin(layer, "layer 1/3")
    progress.advance(layer, layer.size // 2)
    bar = progress.bars.children[0].children[0]
    assert bar.value == layer.size // 2 and progress.status.value == "blobs: downloading"
    progress.end(layer)
    assert bar.value == bar.max and bar.bar_style == "success"


def test_pull_stepper_runs_one_step_per_press(registry, tmp_path):
    stepper = PullStepper(
        f"{registry.host}/library/busybox", tmp_path / "b.tar", client=regkit.Client(insecure=True), blobs=tmp_path
    )
    assert [b.disabled for b in stepper.buttons] == [False, True, True, True, True]
    with pytest.raises(regkit.InvalidOption, match="before manifest"):
        stepper.run("manifest")
    stepper.buttons[0].click()
    assert not stepper.buttons[1].disabled and "Reference" in stepper.view.value
    for step in STEPS[1:]:
        stepper.run(step)
    assert stepper.results["assemble"].path == tmp_path / "b.tar" and (tmp_path / "b.tar").is_file()
    bars = [box.children[0] for box in stepper.progress.bars.children]
    assert len(bars) == 2 and all(b.value == b.max for b in bars)
    assert stepper.view.value.count("<strong>Blob</strong>") == 2 and "Assembled image" in stepper.view.value


def test_pull_stepper_shows_a_failing_step(registry, tmp_path):
    stepper = PullStepper(f"{registry.host}/library/nothing", client=regkit.Client(insecure=True), blobs=tmp_path)
    stepper.run("resolve")
    stepper.run("token")
    stepper.buttons[2].click()  # a click reports the error in the view instead of raising
    assert "NotFound" in stepper.view.value and stepper.buttons[3].disabled


def test_layer_explorer_shows_the_chosen_layer(pulled):
    _, result = pulled
    explorer = LayerExplorer(result.manifest, {"history": [{"created_by": f"step {i}"} for i in range(3)]})
    assert "step 0" in explorer.view.value
    explorer.select.value = 1
    assert "step 1" in explorer.view.value and str(result.manifest.layers[1].digest) in explorer.view.value


def test_importing_regkit_imports_no_notebook_libraries(tmp_path: Path):
    code = (
        "import sys, regkit, regkit.http.formats, regkit.oci.jwt, regkit.display.html; "
        "print(sorted(m for m in ('pandas', 'matplotlib', 'ipywidgets') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_every_result_type_has_its_renderer_and_others_fall_back_to_escaped_text(tmp_path: Path):
    import importlib
    import pkgutil

    from regkit._repr import HtmlRepr
    from regkit.display.render import render_html

    for module in pkgutil.walk_packages(regkit.__path__, "regkit."):
        if not module.name.startswith(("regkit.display", "regkit.lab", "regkit.cli", "regkit.__main__")):
            importlib.import_module(module.name)
    results: list[type] = []
    pending = list(HtmlRepr.__subclasses__())
    while pending:
        cls = pending.pop()
        results.append(cls)
        pending.extend(cls.__subclasses__())
    assert len(results) > 16
    fallback = render_html.dispatch(object)
    assert all(render_html.dispatch(cls) is not fallback for cls in results), [
        cls for cls in results if render_html.dispatch(cls) is fallback
    ]

    class Unregistered(HtmlRepr):
        def __repr__(self) -> str:
            return SCRIPT

    assert Unregistered()._repr_html_() == "<pre>&lt;script&gt;alert(1)&lt;/script&gt;</pre>"
    # The HTML comes from the display layer; the result itself imports none of it.
    code = "import sys, regkit; regkit.resolve('busybox'); print('regkit.display' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def without_styles(page: str) -> str:
    """What an untrusted notebook shows as text: <style> and style attributes removed, then the tags."""
    page = re.sub(r"<style>.*?</style>", "", page, flags=re.S)
    page = re.sub(r'\sstyle="[^"]*"', "", page)
    return unescape(re.sub(r"<[^>]+>", "", page))


def test_status_reads_without_colour_and_without_styles(pulled):
    client, result = pulled
    challenge, redirect = client.transcript[0], next(e for e in client.transcript if e.status == 307)
    ok = next(e for e in client.transcript if e.status == 200)
    error = regkit.UnexpectedResponse("the registry refused", exchange=challenge)
    assert "✗ error: 401 Unauthorized" in without_styles(html.exchange_html(challenge))
    assert "↪ redirect: 307" in without_styles(html.exchange_html(redirect))
    assert "✓ ok: 200" in without_styles(html.exchange_html(ok))
    assert "✗ error: the registry refused" in without_styles(error._repr_html_())
    assert '<strong><span class="bad">✗ error: the registry refused' in error._repr_html_()  # bold without CSS
    pages = [html.exchange_html(ok), error._repr_html_(), result._repr_html_(), result.manifest._repr_html_()]
    assert [p for p in pages if re.search(r"<h[1-6]", p)] == []  # headings would become ToC entries
    for colour in ("--jp-error-color", "--jp-success-color", "--jp-warn-color", "--jp-ui-font-color"):
        assert f"var({colour}" in pages[0]


def test_plural_and_shares_say_what_they_mean(registry, pulled):
    _, result = pulled
    busybox = regkit.get_manifest(f"{registry.host}/library/busybox", client=regkit.Client(insecure=True))
    assert ", 1 layer," in busybox._repr_html_() and ", 3 layers," in result.manifest._repr_html_()
    assert "1 HTTP exchange<" in html.exchanges_html([timed(0.0, 0.1)])
    assert [share(f) for f in (0.0, 130 / 6e6, 0.004, 0.5, 0.999, 1.0)] == ["0%", "<1%", "<1%", "50%", ">99%", "100%"]
    explorer = LayerExplorer(result.manifest)
    explorer.show(2)  # the whiteout layer: 130 bytes of about 6 MiB
    assert "<td>share of the image</td><td>&lt;1%</td>" in explorer.view.value


def test_layer_explorer_list_follows_show(pulled):
    _, result = pulled
    explorer = LayerExplorer(result.manifest, {"history": [{"created_by": f"step {i}"} for i in range(3)]})
    explorer.show(1)
    assert explorer.select.value == 1 and "step 1" in explorer.view.value
    explorer.select.value = 2
    assert "step 2" in explorer.view.value


def test_history_table_leaves_undated_steps_blank():
    config = {
        "history": [
            {"created": "1970-01-01T00:00:00Z", "created_by": "ADD a /"},
            {"created_by": "ENV A=1", "empty_layer": True},
            {"created": "2024-05-01T10:00:00Z", "created_by": "RUN b", "comment": "buildkit"},
            "not a step",
        ]
    }
    table = tables.history_table(config)
    assert list(table["created"]) == ["", "", "2024-05-01T10:00:00Z"]
    assert list(table["makes a layer"]) == ["yes", "no", "yes"] and list(table["comment"]) == ["", "", "buildkit"]
    assert "1970" not in table.to_html() and len(tables.history_table({"history": 7})) == 0


def test_exchanges_table_shows_a_failed_request_as_failed():
    failed = timed(0.0, 0.2)
    failed.status, failed.reason, failed.time_to_headers = None, "", None
    failed.error = "connection refused"
    table = tables.exchanges_table([timed(0.0, 0.1), failed])
    assert list(table["status"]) == [200, "failed"] and table["note"].iloc[1] == "connection refused"
    assert "<NA>" not in table.to_html()


def test_exchanges_table_starts_in_protocol_time_not_the_readers():
    table = tables.exchanges_table([timed(1000.0, 0.1), timed(1300.0, 0.1)])  # five minutes of reading between
    assert table["start_ms"].iloc[0] == 0.0 and 100.0 < table["start_ms"].iloc[1] < 1000.0


def test_pull_stepper_replaces_a_step_pressed_again_and_marks_buttons(registry, tmp_path):
    stepper = PullStepper(f"{registry.host}/library/busybox", client=regkit.Client(insecure=True), blobs=tmp_path)
    stepper.buttons[0].click()
    stepper.buttons[0].click()
    assert stepper.view.value.count("<strong>Reference</strong>") == 1
    assert (stepper.buttons[0].button_style, stepper.buttons[0].icon) == ("success", "check")
    stepper.run("token")
    # the step just run is open right under the buttons; the earlier ones are folded to one line
    assert stepper.view.value.count("<details open><summary><strong>") == 1
    assert "<details open><summary><strong>2. token</strong>: ✓ done" in stepper.view.value
    broken = PullStepper(f"{registry.host}/library/nothing", client=regkit.Client(insecure=True), blobs=tmp_path)
    broken.run("resolve")
    broken.run("token")
    broken.buttons[2].click()
    assert (broken.buttons[2].button_style, broken.buttons[2].tooltip) == ("danger", "manifest: failed")
    assert "3. manifest</strong>: ✗ failed" in broken.view.value


def test_widget_progress_ends_on_done_after_a_pull(registry, tmp_path):
    progress = WidgetProgress()
    regkit.pull(
        f"{registry.host}/library/busybox", tmp_path / "b.tar", client=regkit.Client(insecure=True), progress=progress
    )
    assert progress.status.value.startswith("done: wrote ")
