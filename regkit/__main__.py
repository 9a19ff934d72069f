"""``python -m regkit``."""

from .cli import run

run()
