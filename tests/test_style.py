"""The code stays lint-clean and type-checked: ruff and mypy run as part of the suite."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint_and_format():
    lint = run("ruff", "check", "regkit", "tests", "benchmarks")
    assert lint.returncode == 0, lint.stdout
    fmt = run("ruff", "format", "--check", "regkit", "tests", "benchmarks")
    assert fmt.returncode == 0, fmt.stdout


def test_mypy():
    done = run("mypy", "regkit")
    assert done.returncode == 0, done.stdout
