"""Start-up: ``regkit --help`` and ``regkit pull`` load only what they need (not timed: which modules load)."""

from __future__ import annotations

import json
import subprocess
import sys

# Modules only analysis, diagnosis, notebooks, the lab or layer conversion need.
HEAVY = [
    "pandas",
    "numpy",
    "matplotlib",
    "ipywidgets",
    "IPython",
    "tqdm",
    "zstandard",
    "cryptography",
    "jsonschema",
    "regkit.analysis",
    "regkit.diagnosis",
    "regkit.display",
    "regkit.lab.lab",
]

_PROBE = """
import sys
from regkit.cli.main import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
modules = sorted(sys.modules)
import json  # after the count: the probe's own report must not hide regkit's use of json
print(json.dumps({"code": code, "modules": modules}))
"""


def loaded_by(*argv: str) -> tuple[int, set[str]]:
    """The exit code of ``regkit ARGV`` and the modules it imported (top-level names and regkit's)."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, timeout=120)
    report = json.loads(done.stdout.splitlines()[-1])
    return report["code"], set(report["modules"])


def heavy_in(modules: set[str]) -> list[str]:
    return [name for name in HEAVY if name in modules]


# What building every command's parser must not need: it reads defaults from constant modules, and a
# command's own machinery (dataclasses ~10 ms with inspect, email.utils ~10 ms) loads when it runs.
NOT_FOR_PARSING = ["requests", "urllib3", "dataclasses", "email", "json"]
# Imported only by the type checker (``if TYPE_CHECKING``): ~5 ms of every pull otherwise.
TYPE_ONLY = ["typing_extensions"]


def test_help_loads_neither_requests_nor_any_heavy_module():
    code, modules = loaded_by("--help")
    assert code == 0
    assert heavy_in(modules) == [] and [name for name in NOT_FOR_PARSING if name in modules] == []


def test_a_quiet_pull_loads_no_heavy_module(registry, tmp_path):
    out = tmp_path / "b.tar"
    har = tmp_path / "b.har"
    code, modules = loaded_by(
        "pull", f"{registry.host}/library/busybox:docker", "-o", str(out), "--insecure-registry", "-q",
        "--transcript", str(har),
    )  # fmt: skip
    assert code == 0 and out.is_file() and har.is_file()
    assert "requests" in modules  # the probe did pull
    assert heavy_in(modules) == [] and [name for name in TYPE_ONLY if name in modules] == []
