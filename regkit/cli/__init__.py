"""The command line."""

from .main import run

__all__ = ["run"]
