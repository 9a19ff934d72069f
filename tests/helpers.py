"""Small helpers shared by the tests."""

from __future__ import annotations

from regkit.lab.images import SampleImage


def sample(samples: list[SampleImage], repository: str, tag: str) -> SampleImage:
    """The sample image with this repository and tag."""
    return next(s for s in samples if (s.repository, s.tag) == (repository, tag))
