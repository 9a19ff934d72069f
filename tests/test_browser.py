"""The lessons as a student meets them: every notebook Run All in a real JupyterLab in Debian's Chromium.

One JupyterLab serves a copy of notebooks/ for the whole module; each notebook is opened and run once,
and the tests read its page and its saved .ipynb. Screenshots go to ``test-artifacts/browser/`` (or
``$REGKIT_TEST_ARTIFACTS``), printed at the end of the module.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from playwright.sync_api import Browser, Page, sync_playwright

from regkit.display.widgets import STEPS
from regkit.lab import Lab
from regkit.lab.notebooks import NOTEBOOKS, notebook_paths

from .browser import (
    CHROMIUM,
    JupyterLab,
    command,
    contrasts,
    copy_notebooks,
    errors,
    open_notebook,
    run_all,
    screenshot,
)

pytestmark = pytest.mark.browser

ARTIFACTS = Path(os.environ.get("REGKIT_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
SHOTS = ARTIFACTS / "browser"
LESSONS = [str(path.relative_to(NOTEBOOKS)) for path in notebook_paths()]  # zh-CN/NAME.ipynb for translations
WCAG_AA = 4.5  # minimum contrast of normal text (WCAG 2.1, 1.4.3)

# After the lesson's own setup cell, which starts its lab: that lab's processes.
SHOW_LAB_PIDS = "import json\nprint(json.dumps(lab.running()))"


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    """One JupyterLab for the module, serving a copy of the notebooks; every lab left behind is stopped after."""
    root, home = tmp_path_factory.mktemp("lab-root"), tmp_path_factory.mktemp("lab-home")
    copy_notebooks(NOTEBOOKS, root)
    server = JupyterLab(root, home).start()
    try:
        yield server
    finally:
        server.stop()
        # Labs of failed runs, or of kernels that did not stop theirs. os.walk, not rglob: a kernel's
        # watchdog may be removing its lab's directory right now, and rglob fails on a vanished one.
        for parent, _, names in os.walk(home):
            if "lab.json" in names:
                Lab(parent).down()
        print(f"\nbrowser screenshots: {SHOTS}")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless (``--no-sandbox``: the tests run as root)."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def lesson(jupyter: JupyterLab, browser: Browser) -> Callable[[str], tuple[Page, dict[str, Any]]]:
    """``lesson(name)``: the notebook's page after Run All and its saved .ipynb, each notebook run once."""
    ran: dict[str, tuple[Page, dict[str, Any]]] = {}

    def get(name: str) -> tuple[Page, dict[str, Any]]:
        if name not in ran:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_notebook(page, jupyter, name)
            ran[name] = page, run_all(page, jupyter.root / name)
        return ran[name]

    return get


def shot_name(name: str) -> str:
    """A screenshot's name for a lesson: its path without suffix, translations prefixed (zh-CN-01-…)."""
    return str(Path(name).with_suffix("")).replace("/", "-")


def widget_buttons(page: Page) -> list[str]:
    return [text.strip() for text in page.locator(".jp-OutputArea-output .widget-button").all_inner_texts()]


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie has exited but was not reaped: it counts)."""
    return Path(f"/proc/{pid}").exists()


def test_kernel_restart_leaves_no_lab_process(jupyter: JupyterLab, browser: Browser):
    """Lesson 01's setup cell starts its lab as a student runs it; a kernel restart must take the lab with it.

    First in the module: with the ten lessons' kernels and labs alive (English and zh-CN), an eleventh
    kernel did not start in this JupyterLab within 300 s (state "unknown"), though it starts alone.
    """
    lesson = nbformat.read(NOTEBOOKS / LESSONS[0], as_version=4)
    setup = next(i for i, cell in enumerate(lesson.cells) if cell.cell_type == "code" and "Lab" in cell.source)
    lesson.cells = [*lesson.cells[: setup + 1], new_code_cell(SHOW_LAB_PIDS)]
    name = "restart-kernel.ipynb"
    nbformat.write(lesson, jupyter.root / name)
    page = browser.new_page()
    open_notebook(page, jupyter, name)
    saved = run_all(page, jupyter.root / name)
    assert errors(saved) == []
    pids = [pid for pid in json.loads("".join(saved["cells"][-1]["outputs"][0]["text"])).values() if pid]
    assert len(pids) == 3 and all(alive(pid) for pid in pids)
    (session,) = [s for s in jupyter.api("GET", "sessions") if s["path"].endswith(name)]
    jupyter.api("POST", f"kernels/{session['kernel']['id']}/restart")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(alive(pid) for pid in pids):
        time.sleep(0.2)
    page.close()
    assert [pid for pid in pids if alive(pid)] == []


@pytest.mark.parametrize("name", LESSONS)
def test_run_all_gives_no_error_output(lesson, name: str):
    page, saved = lesson(name)
    screenshot(page, SHOTS / f"{shot_name(name)}-light.png")
    assert errors(saved) == []
    # Output titles are not headings: JupyterLab's Table of Contents lists every heading of every output.
    assert page.locator(".jp-OutputArea-output :is(h1, h2, h3, h4, h5, h6)").all_inner_texts() == []
    shown = page.locator(".jp-OutputArea-output").count()
    assert shown >= sum(len(c.get("outputs", [])) for c in saved["cells"] if c["cell_type"] == "code") - 1


def test_widgets_are_in_the_page(lesson):
    page, _ = lesson(LESSONS[0])
    assert [b for b in widget_buttons(page) if b[:1].isdigit()] == [
        "1. resolve",
        "2. token",
        "3. manifest",
        "4. blobs",
        "5. assemble",
    ]
    page, _ = lesson(LESSONS[2])
    select = page.locator(".jp-OutputArea-output .widget-dropdown select")
    options = [text.replace("\xa0", " ") for text in select.locator("option").all_text_contents()]
    assert len(options) == 3 and options[0].startswith("0: "), options
    # The lesson ends with explorer.show(1): the list and the view both say layer 1.
    chosen = select.evaluate("(element) => element.options[element.selectedIndex].text").replace("\xa0", " ")
    assert chosen.startswith("1: ") and page.locator(".widget-html", has_text="Layer 1").count() >= 1


def stepper_status(page: Page) -> str:
    """The stepper's status line (``token: done``)."""
    labels = page.locator(".jp-OutputArea-output .widget-label").all_inner_texts()
    return next((text for text in labels if text.split(":")[0] in STEPS), "")


def test_stepper_pressed_after_run_all_gives_a_working_step(lesson):
    page, _ = lesson(LESSONS[0])
    button = page.locator(".jp-OutputArea-output .widget-button", has_text="2. token")
    button.click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not stepper_status(page).startswith(("token: done", "token: failed")):
        time.sleep(0.2)
    screenshot(page, SHOTS / "stepper-after-run-all.png")
    status = stepper_status(page)
    assert status.startswith("token: done"), status
    view = page.locator(".jp-OutputArea-output .widget-html", has_text="Token").first
    assert "Error" not in view.inner_text() and "refused" not in view.inner_text()


@pytest.mark.parametrize("name", LESSONS)
def test_dark_theme_keeps_every_text_readable(lesson, name: str):
    page, _ = lesson(name)
    command(page, "apputils:change-theme", {"theme": "JupyterLab Dark"})
    try:
        page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
        time.sleep(0.5)  # the theme's stylesheet applies after the attribute changes
        screenshot(page, SHOTS / f"{shot_name(name)}-dark.png")
        found = contrasts(page)
        assert len(found) > 10  # the outputs were there to check
        low = [(c["text"], c["color"], round(c["ratio"], 2)) for c in found if c["ratio"] < WCAG_AA]
        assert low == []
    finally:
        command(page, "apputils:change-theme", {"theme": "JupyterLab Light"})
