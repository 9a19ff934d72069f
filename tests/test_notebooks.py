"""The teaching notebooks run top to bottom against their own lab, and show no secret anywhere.

Each notebook runs in a kernel with two extra cells: a first one that records every token the
token service issues, and a last one that collects the real secrets of the run (those tokens and
any still in memory, the lab's password and CDN signing secret, the signatures of the CDN URLs the
clients saw) into a file. The outputs and the rendered HTML must hold none of them.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from regkit.lab import Lab
from regkit.lab.dialects import DIALECTS
from regkit.lab.notebooks import NOTEBOOKS, TRANSLATIONS, execute, load, main, notebook_paths, to_html

RECORD_TOKENS = """
import regkit.steps.auth as _auth

_issued_tokens = []
_request_token = _auth.request_token


def _recording_request_token(*args, **kwargs):
    token = _request_token(*args, **kwargs)
    _issued_tokens.append(token.value)
    return token


_auth.request_token = _recording_request_token
"""

COLLECT_SECRETS = """
import base64 as _base64
import gc as _gc
import json as _json
import pathlib as _pathlib
from urllib.parse import parse_qs as _parse_qs, urlsplit as _urlsplit

from regkit.steps.auth import Token as _Token
from regkit.http.exchange import Exchange as _Exchange
from regkit.lab.cdn import signature as _signature
from regkit.lab.lab import LAB_USER as _LAB_USER, LabSettings as _LabSettings
from regkit.lab.corpnet import CorporateNetwork as _CorporateNetwork
from regkit.lab.dialectlab import DialectLab as _DialectLab

_objects = _gc.get_objects()
_labs = [o for o in _objects if isinstance(o, _LabSettings)]
_secrets = set(_issued_tokens) | {o.value for o in _objects if isinstance(o, _Token) and o.value}
_secrets |= {t.rsplit(".", 1)[1] for t in list(_secrets) if t.count(".") == 2}  # a JWT's signature alone
for _lab in _labs:
    _secrets |= {_lab.password, _lab.secret, _base64.b64encode(f"{_LAB_USER}:{_lab.password}".encode()).decode()}
# The dialect labs' and the corporate network's own (lesson 06): passwords, signing secrets, identity tokens.
for _dialect in (o for o in _objects if isinstance(o, _DialectLab)):
    _secrets |= {_s for _s in (_dialect.settings.password, _dialect.settings.secret, _dialect.settings.json_key) if _s}
    _secrets |= {_dialect.identity_token, _dialect.aad_token} if _dialect.dialect == "acr" else set()
for _corp in (o for o in _objects if isinstance(o, _CorporateNetwork)):
    _secrets |= {_corp.password, _corp.sso_token}
for _exchange in (o for o in _objects if isinstance(o, _Exchange)):
    _meant = _urlsplit(_exchange.original_url)
    for _expires in _parse_qs(_meant.query).get("expires", []):
        _secrets |= {_signature(_meant.path, int(_expires), _lab.secret) for _lab in _labs}
_pathlib.Path(SECRETS_FILE).write_text(_json.dumps(sorted(_secrets)))
"""

# Shapes of secrets whatever their value: a JWT, and a CDN signature that is neither a redaction
# marker nor the shell variable of a curl command.
SECRET_SHAPES = re.compile(r"eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+|md5=(?!<redacted|&lt;redacted|%3Credacted|\$\{MD5\})")


# Notebook 04 states conclusions computed from its numbers; this cell records the numbers themselves,
# computed here independently of the notebook's own helpers.
RECORD_TIMINGS = """
import json as _json
import pathlib as _pathlib
import statistics as _statistics
from urllib.parse import urlsplit as _urlsplit


def _waits(result):
    return {(e.step, e.method, _urlsplit(e.original_url).path): e.time_to_headers for e in result.exchanges}


_near, _far = _waits(three), _waits(proxied)
_pathlib.Path(TIMINGS_FILE).write_text(_json.dumps({
    "one": one.seconds, "three": three.seconds, "direct": three.seconds, "proxied": proxied.seconds,
    "extra_ms": _statistics.median((_far[k] - _near[k]) * 1000 for k in _near.keys() & _far.keys()),
    "fastest_ms": min(_far[k] for k in _near.keys() & _far.keys()) * 1000,
    "delay_ms": lab.settings.proxy_delay * 1000,
}))
"""
# Notebook 05 states what each docker pull cost upstream; this first cell notes, around every
# DockerEngine.pull, where the lab's nginx access log stood, and the last one counts the gateway's
# lines in between itself, without regkit.lab.traffic.
RECORD_PULL_WINDOWS = """
from regkit.lab.engine import DockerEngine as _DockerEngine

_pull_windows = []
_engine_pull = _DockerEngine.pull


def _recording_pull(self, name, **options):
    log = options["watch"].state_dir / "nginx" / "access.log"
    before = log.stat().st_size
    pulled = _engine_pull(self, name, **options)
    _pull_windows.append((before, log.stat().st_size))  # the pull returns once the logs settled
    return pulled


_DockerEngine.pull = _recording_pull
"""

RECORD_UPSTREAM = """
import json as _json
import pathlib as _pathlib

_log = lab.state_dir / "nginx" / "access.log"
_counted = {}
for _name, (_start, _end) in zip(runs, _pull_windows):
    with _log.open("rb") as _file:
        _file.seek(_start)
        _lines = [_line.split() for _line in _file.read(_end - _start).decode().splitlines()]
    _gateway = [_fields for _fields in _lines if _fields[0] == str(lab.settings.gateway) and _fields[1] != "-"]
    _blobs = sum(int(_f[4]) for _f in _gateway if _f[2].startswith("/docker-blob/") and _f[3] == "200")
    _counted[_name] = {"requests": len(_gateway), "blob_bytes": _blobs, "status": runs[_name].status}
_pathlib.Path(UPSTREAM_FILE).write_text(_json.dumps(_counted))
"""
# Notebook 06 states what differs between the dialects; this cell records, from its probes' raw exchanges
# and without regkit.analysis, what each registry answered.
RECORD_DIALECTS = """
import json as _json
import pathlib as _pathlib

_seen = {}
for _name, _result in probes.items():
    _ex = list(_result.exchanges)
    _tokens = [_e for _e in _ex if _e.step == "token" and _e.method != "HEAD" and _e.status == 200]
    _challenges = [_v for _e in _ex for _k, _v in _e.response_headers if _k.lower() == "www-authenticate"]
    _seen[_name] = {
        "scheme": _challenges[0][: _challenges[0].index(" ")] if _challenges else "",
        "expires": ('"expires_in"' in _tokens[0].body_preview) if _tokens else None,
        "redirect": next((_e.status for _e in _ex if _e.step == "blob" and 300 <= (_e.status or 0) < 400), None),
        "head_refused": any(_e.method == "HEAD" and _e.status == 403 and "probe" in _e.note for _e in _ex),
    }
_pathlib.Path(DIALECTS_FILE).write_text(_json.dumps(_seen))
"""
LAB_GONE_WITHIN = 15.0  # seconds after the kernel shut down


def labs(root: Path) -> list[Path]:
    """State directories of the kernel labs in ``root`` (the notebooks' kernels make them there, see TMPDIR)."""
    return [settings.parent for settings in root.glob("regkit-lab-*/lab.json")]


def stop_labs(root: Path) -> None:
    """Stop any lab a failed notebook left running below ``root``."""
    for state_dir in labs(root):
        Lab(state_dir).down()


def problems(notebook: nbformat.NotebookNode) -> list[str]:
    """Error outputs and anything written to stderr."""
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    errors = [f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error"]
    return errors + [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]


def lesson_id(path: Path) -> str:
    """``01-anatomy-of-a-pull``, or ``zh-CN/01-anatomy-of-a-pull`` for a translation."""
    return str(path.relative_to(NOTEBOOKS).with_suffix(""))


@pytest.mark.parametrize("path", notebook_paths(), ids=lesson_id)
def test_notebook_runs_and_shows_no_secret(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    notebook = load(path)
    assert all(not cell.get("outputs") for cell in notebook.cells), f"{path.name} is stored with outputs"
    secrets_file = tmp_path / "secrets.json"
    notebook.cells.insert(0, new_code_cell(RECORD_TOKENS))
    notebook.cells.append(new_code_cell(COLLECT_SECRETS.replace("SECRETS_FILE", repr(str(secrets_file)))))
    timings_file, upstream_file = tmp_path / "timings.json", tmp_path / "upstream.json"
    dialects_file = tmp_path / "dialects.json"
    timed, mirrored = path.stem == "04-download-timings", path.stem == "05-mirrors-and-pull-through-caches"
    if timed:
        notebook.cells.append(new_code_cell(RECORD_TIMINGS.replace("TIMINGS_FILE", repr(str(timings_file)))))
    if mirrored:
        notebook.cells.insert(1, new_code_cell(RECORD_PULL_WINDOWS))
        notebook.cells.append(new_code_cell(RECORD_UPSTREAM.replace("UPSTREAM_FILE", repr(str(upstream_file)))))
    compared = path.stem == "06-beyond-docker-hub"
    if compared:
        notebook.cells.append(new_code_cell(RECORD_DIALECTS.replace("DIALECTS_FILE", repr(str(dialects_file)))))
    added = (1 + mirrored, 1 + timed + mirrored + compared)  # cells put before and after the lesson's own
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the kernel's temporary directories, labs included, go here
    try:
        execute(notebook, tmp_path)
        # No last "stop" cell: the kernel's lab goes, files and all, when the kernel shuts down.
        deadline = time.monotonic() + LAB_GONE_WITHIN
        while labs(tmp_path) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert labs(tmp_path) == [], "the notebook's lab outlived its kernel"
    finally:
        stop_labs(tmp_path)
    notebook.cells = notebook.cells[added[0] : -added[1]]
    assert problems(notebook) == []
    if timed:
        check_timing_conclusions(notebook, json.loads(timings_file.read_text()))
    if mirrored:
        check_upstream_costs(notebook, json.loads(upstream_file.read_text()))
    if compared:
        check_dialect_comparison(notebook, json.loads(dialects_file.read_text()))
    if path.stem == "07-what-a-repository-holds":  # its conclusion compares du with the registry's own GC
        assert "bytes: exactly what du said." in printed(notebook)
    secrets = json.loads(secrets_file.read_text())
    assert len(secrets) >= 5  # a token and its signature, the password, its Basic form, the CDN secret
    shown = nbformat.writes(notebook) + to_html(notebook)
    # Compare without ever printing a secret: a failing assert shows the first characters only.
    assert [secret[:4] for secret in secrets if secret in shown] == []
    assert [match.group()[:8] for match in SECRET_SHAPES.finditer(shown)] == []


def test_render_writes_html_with_outputs(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    source = tmp_path / "lessons"
    source.mkdir()
    cells = [new_code_cell("import regkit\nprint('regkit', regkit.__version__)")]
    nbformat.write(new_notebook(cells=cells), source / "00-tiny.ipynb")
    assert main(["render", str(tmp_path / "html"), "--source", str(source)]) == 0
    page = (tmp_path / "html" / "00-tiny.html").read_text()
    assert "regkit 0.1.0" in page and capsys.readouterr().out.strip().endswith("00-tiny.html")
    assert main(["render", str(tmp_path / "none"), "--source", str(tmp_path / "html")]) == 1


LESSONS = [
    "01-anatomy-of-a-pull",
    "02-debugging-a-reverse-proxy",
    "03-layer-size-analysis",
    "04-download-timings",
    "05-mirrors-and-pull-through-caches",
    "06-beyond-docker-hub",
    "07-what-a-repository-holds",
]


def test_the_notebooks_are_there():
    assert [lesson_id(path) for path in notebook_paths()] == LESSONS + [f"zh-CN/{name}" for name in LESSONS]


def code_cells(path: Path) -> list[str]:
    return [cell.source for cell in load(path).cells if cell.cell_type == "code"]


def prose(path: Path) -> str:
    return "".join(cell.source for cell in load(path).cells if cell.cell_type == "markdown")


@pytest.mark.parametrize("language", TRANSLATIONS)
@pytest.mark.parametrize("name", LESSONS)
def test_a_translation_has_the_code_cells_of_its_lesson(language: str, name: str):
    english, translated = NOTEBOOKS / f"{name}.ipynb", NOTEBOOKS / language / f"{name}.ipynb"
    assert code_cells(translated) == code_cells(english)
    # Translated: as many Markdown cells, in the same places, and none left in English.
    kinds = [[cell.cell_type for cell in load(path).cells] for path in (english, translated)]
    assert kinds[0] == kinds[1]
    han = sum("\u4e00" <= char <= "\u9fff" for char in prose(translated))
    assert han > len(prose(translated)) // 5, f"{translated.name} reads mostly untranslated"


def printed(notebook: nbformat.NotebookNode) -> str:
    """Everything the notebook's cells printed."""
    return "".join(o.text for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "text" in o)


def check_timing_conclusions(notebook: nbformat.NotebookNode, numbers: dict[str, float]) -> None:
    """Notebook 04's sentences state this run's numbers, and the direction of each effect they claim."""
    text = printed(notebook)
    jobs = re.search(
        r"jobs=1 took ([\d.]+) s \([\d.]+ MiB/s\) and jobs=3 ([\d.]+) s \([\d.]+ MiB/s\): "
        r"jobs=3 was ([\d.]+) times as (\w+)",
        text,
    )
    assert jobs, text
    assert (jobs[1], jobs[2]) == (f"{numbers['one']:.2f}", f"{numbers['three']:.2f}")
    ratio = numbers["one"] / numbers["three"]
    assert jobs[4] == ("fast" if ratio >= 1 else "slow") and float(jobs[3]) == round(max(ratio, 1 / ratio), 1)
    assert ratio > 1.5  # the CDN's per-connection cap makes concurrency pay, in every run
    proxy = re.search(
        r"the proxy added (\d+) ms per request .*? less than (\d+) ms\. .*?took ([\d.]+) s through the proxy and "
        r"([\d.]+) s direct: "
        r"([\d.]+) s (longer|shorter)",
        text,
        re.S,
    )
    assert proxy, text
    assert (int(proxy[1]), int(proxy[2])) == (round(numbers["extra_ms"]), round(numbers["fastest_ms"]))
    # The effect the sentence names is the lab's delay, not noise: about its size, and under every request.
    assert numbers["delay_ms"] == 50 and 25 < numbers["extra_ms"] < 100 and numbers["fastest_ms"] >= 50
    assert (proxy[3], proxy[4]) == (f"{numbers['proxied']:.2f}", f"{numbers['direct']:.2f}")
    assert proxy[6] == ("longer" if numbers["proxied"] >= numbers["direct"] else "shorter")


def check_upstream_costs(notebook: nbformat.NotebookNode, counted: dict[str, dict[str, int]]) -> None:
    """Notebook 05's line of upstream costs states what the gateway's log holds for each docker pull."""
    line = next((line for line in printed(notebook).splitlines() if "upstream (gateway) per pull: " in line), "")
    parts = re.findall(r"(?:: |; )([\w ,]+?): (\d+) requests, (\d+) blob bytes", line)
    stated = {name: {"requests": int(requests), "blob_bytes": int(blob)} for name, requests, blob in parts}
    assert stated == {name: {"requests": n["requests"], "blob_bytes": n["blob_bytes"]} for name, n in counted.items()}
    # The findings the lesson draws from them, true in every run: the cache's second pull costs a
    # tag check and no blob, the generated proxy goes all the way each time, the seed's proxy fails.
    first, second = counted["cache, first"], counted["cache, second"]
    assert 0 < second["requests"] < first["requests"] and second["blob_bytes"] == 0 < first["blob_bytes"]
    # (The engine's requests through the gateway vary by one or two from pull to pull; the blob bytes do not.)
    through = [counted[f"gateway, {which}"] for which in ("first", "second")]
    assert through[0]["blob_bytes"] == through[1]["blob_bytes"] > 0
    assert all(pull["requests"] > second["requests"] for pull in through)
    assert counted["seed proxy"]["status"] != 0 and counted["seed proxy"]["requests"] == 0
    assert all(counted[name]["status"] == 0 for name in counted if name != "seed proxy")


def named(text: str) -> set[str]:
    """``ghcr, acr`` as a set of names (``none``: the empty set)."""
    return set() if text == "none" else set(text.split(", "))


def check_dialect_comparison(notebook: nbformat.NotebookNode, seen: dict[str, dict[str, Any]]) -> None:
    """Notebook 06's paragraph states what each registry answered, and its three failures are the ones meant."""
    text = printed(notebook)
    stated = re.search(
        r"(\d+) registries served the same manifest sha256:[0-9a-f]{12}…\. "
        r"Challenges: (\d+) Bearer, Basic only from ([\w, ]+), none from ([\w, ]+)\. "
        r"(\d+) of (\d+) token answers carry no expires_in \(([\w, ]+)\): a client assumes 60 s\. "
        r"Blob redirects: 302 from ([\w, ]+), 307 from the other (\d+); to the registry's own host from [\w, ]+\. "
        r"The storage host refused a HEAD of a GET-signed URL from ([\w, ]+)\. "
        r"Requests to a storage host carrying Authorization: 0\.",
        text,
    )
    assert stated, text
    schemes = {name: d["scheme"] for name, d in seen.items()}
    assert int(stated[1]) == len(seen) == len(DIALECTS) - 1
    assert int(stated[2]) == sum(s == "Bearer" for s in schemes.values())
    assert named(stated[3]) == {n for n, s in schemes.items() if s == "Basic"}
    assert named(stated[4]) == {n for n, s in schemes.items() if s == ""}
    tokens = {name: d["expires"] for name, d in seen.items() if d["expires"] is not None}
    assert (int(stated[5]), int(stated[6])) == (sum(not e for e in tokens.values()), len(tokens))
    assert named(stated[7]) == {n for n, e in tokens.items() if not e}
    assert named(stated[8]) == {n for n, d in seen.items() if d["redirect"] == 302}
    assert int(stated[9]) == sum(d["redirect"] == 307 for d in seen.values())
    assert named(stated[10]) == {n for n, d in seen.items() if d["head_refused"]}
    # What the lab's dialects are meant to answer (regkit.lab.dialects), as the run saw it.
    assert {n: d["redirect"] for n, d in seen.items()} == {n: DIALECTS[n].redirect_status for n in seen}
    assert {n for n, s in schemes.items() if s == "Basic"} == {n for n in seen if DIALECTS[n].scheme == "Basic"}
    found = dict(re.findall(r"^(.+?) -> (\[.*\])$", text, re.M))
    assert "'anonymous-denied'" in found["anonymous on GHCR"]
    assert "'storage-rejects-authorization'" in found["SSO proxy"]
    assert "'cdn-certificate-untrusted'" in found["intercepting proxy"]
