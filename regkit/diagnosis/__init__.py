"""Diagnosis of pulls through mirrors, reverse proxies and token services."""

from .findings import Finding
from .runner import Diagnosis, diagnose

__all__ = ["Diagnosis", "Finding", "diagnose"]
