"""JupyterLab on loopback with its own directories, and a Chromium page driving it, for tests/test_browser.py.

Browsers cannot be downloaded here, so Playwright drives Debian's ``chromium`` (installed by
``scripts/setup``) through ``executable_path``. JupyterLab is started with ``expose_app_in_browser``:
the tests run JupyterLab's own commands (``runmenu:run-all``, ``docmanager:save``,
``apputils:change-theme``) instead of hunting for menu items.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

from regkit.lab.notebooks import notebook_paths

CHROMIUM = Path("/usr/bin/chromium")
START_TIMEOUT = 60.0  # seconds for JupyterLab to answer; it starts in 3-5 s on an idle machine
RUN_TIMEOUT = 300.0  # seconds for one notebook's Run All; about 6 s each, notebook 01's engine cell the slowest
TOKEN = "regkit-browser-tests"  # the server listens on 127.0.0.1 only; the token still keeps other users out

# User settings, as JupyterLab's settings editor writes them: no news pop-up over the cells, no update
# check (no network), and every cell rendered (no windowing) so the whole output is in the DOM.
SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}

# The WCAG 2 contrast of every visible text in the notebook's outputs against its effective background
# (the first opaque background up the tree, translucent ones blended on top of it).
CONTRAST_JS = """
(root) => {
  const parse = (c) => { const m = c.match(/[\\d.]+/g); return m ? m.map(Number) : [0, 0, 0, 0]; };
  const rgba = (c) => { const v = parse(c); return [v[0], v[1], v[2], v.length > 3 ? v[3] : 1]; };
  const over = (top, bottom) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3])).concat([1]);
  const luminance = (c) => {
    const linear = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    const [r, g, b] = c.slice(0, 3).map(linear);
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (element) => {
    const layers = [];
    for (let e = element; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c[3] > 0) layers.push(c);
      if (c[3] >= 1) break;
    }
    let result = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const found = [];
  for (const output of document.querySelectorAll(root)) {
    for (const e of output.querySelectorAll('*')) {
      const own = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
      if (!own || !e.getClientRects().length) continue;
      const style = getComputedStyle(e);
      if (style.visibility === 'hidden' || style.display === 'none') continue;
      const bg = background(e);
      const fg = over(rgba(style.color), bg);
      const [hi, lo] = [luminance(fg), luminance(bg)].sort((a, b) => b - a);
      found.push({text: own.slice(0, 60), color: style.color, ratio: (hi + 0.05) / (lo + 0.05),
                  coloured: Math.max(...fg.slice(0, 3)) - Math.min(...fg.slice(0, 3)) > 24});
    }
  }
  return found;
}
"""


def _write_settings(directory: Path) -> None:
    for name, values in SETTINGS.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


class JupyterLab:
    """A JupyterLab server serving ``root``, with settings, workspaces, runtime, config and data below ``home``."""

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home = root, home
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> JupyterLab:
        """Start the server and wait until it answers; a missing chromium fails here with what installs it."""
        if not CHROMIUM.exists():
            raise RuntimeError(f"{CHROMIUM} is missing: Debian's chromium package (scripts/setup installs it)")
        dirs = {name: self.home / name for name in ("settings", "workspaces", "runtime", "config", "data", "tmp")}
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        _write_settings(dirs["settings"])
        env = dict(os.environ)
        env.update(
            JUPYTER_RUNTIME_DIR=str(dirs["runtime"]),
            JUPYTER_CONFIG_DIR=str(dirs["config"]),
            JUPYTER_DATA_DIR=str(dirs["data"]),
            TMPDIR=str(dirs["tmp"]),  # the kernels' temporary directories, labs included, go here
        )
        command = [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", "--ip=127.0.0.1"]
        command += ["--ServerApp.port=0", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={self.root}"]
        command += [f"--LabApp.user_settings_dir={dirs['settings']}", f"--LabApp.workspaces_dir={dirs['workspaces']}"]
        command += ["--LabApp.expose_app_in_browser=True", "--LabApp.extension_manager=readonly"]
        log = (self.home / "jupyterlab.log").open("wb")
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.root)
        log.close()
        info = dirs["runtime"] / f"jpserver-{self.process.pid}.json"
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            if info.exists():
                with_port = json.loads(info.read_text() or "{}")
                if with_port.get("port"):
                    self.url = f"http://127.0.0.1:{with_port['port']}"
                    try:
                        self.api("GET", "status")
                        return self
                    except OSError:
                        pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"JupyterLab did not start; its log: {self.home / 'jupyterlab.log'}")

    def api(self, method: str, path: str) -> Any:
        """A REST call to the server; its JSON answer."""
        data = b"{}" if method == "POST" else None
        request = urllib.request.Request(f"{self.url}/api/{path}?token={TOKEN}", method=method, data=data)
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def stop(self) -> None:
        """Stop the server by its PID; it shuts its kernels down first."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def command(page: Page, name: str, args: dict[str, Any] | None = None) -> Any:
    """Run a JupyterLab command and wait for it to finish."""
    return page.evaluate("([name, args]) => window.jupyterapp.commands.execute(name, args)", [name, args or {}])


def open_notebook(page: Page, lab: JupyterLab, name: str) -> None:
    """Open ``name`` in a fresh workspace (no restored layout) and wait until its kernel is idle."""
    workspace = str(Path(name).with_suffix("")).replace("/", "-").replace(".", "-")
    page.goto(f"{lab.url}/lab/workspaces/{workspace}/tree/{name}?reset&token={TOKEN}")
    page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget?.content?.model")
    wait_idle(page, settle=0.5)


STATE_JS = """
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session?.kernel;
  const cells = panel.content.model.cells;
  let busy = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code' && cell.executionState === 'running') busy++;
  }
  return {kernel: kernel ? kernel.status : 'none', busy};
}
"""


def wait_idle(page: Page, *, settle: float = 2.0, timeout: float = RUN_TIMEOUT) -> None:
    """Wait until the kernel is idle and no cell runs or waits, ``settle`` seconds in a row."""
    deadline, quiet_since = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        state = page.evaluate(STATE_JS)
        if state["kernel"] == "idle" and state["busy"] == 0:
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle:
                return
        else:
            quiet_since = None
        time.sleep(0.25)
    raise TimeoutError(f"the notebook still runs after {timeout:.0f} s: {page.evaluate(STATE_JS)}")


def run_all(page: Page, path: Path) -> dict[str, Any]:
    """Run All from the Run menu's command, wait for the kernel, save, and return the saved notebook."""
    command(page, "runmenu:run-all")
    time.sleep(0.5)  # the first cell is queued asynchronously
    wait_idle(page)
    command(page, "docmanager:save")
    return json.loads(path.read_text())


def errors(notebook: dict[str, Any]) -> list[str]:
    """Error outputs and stderr of the saved notebook, and code cells that never ran."""
    found = []
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        if cell.get("execution_count") is None:
            found.append(f"cell {index} did not run")
        for output in cell.get("outputs", []):
            if output["output_type"] == "error":
                found.append(f"cell {index}: {output['ename']}: {output['evalue']}")
            elif output["output_type"] == "stream" and output["name"] == "stderr":
                found.append(f"cell {index} stderr: {''.join(output['text'])[:300]}")
    return found


def contrasts(page: Page) -> list[dict[str, Any]]:
    """Every visible text in the outputs with its colour and its WCAG contrast ratio."""
    return page.evaluate(CONTRAST_JS, ".jp-OutputArea-output")


def screenshot(page: Page, path: Path) -> Path:
    """A screenshot of the page as it is; its path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    return path


def copy_notebooks(source: Path, root: Path) -> list[Path]:
    """The notebooks (translations in their sub-folders) copied into the server's root."""
    copies = []
    for path in notebook_paths(source):
        copy = root / path.relative_to(source)
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(path, copy)
        copies.append(copy)
    return copies
