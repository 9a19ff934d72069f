"""The lab's distance options: a fixed delay on the seed proxy's hop and a per-connection CDN rate.

They exist so that lessons comparing direct with proxied pulls, or one download with three, show
an effect the size of the option, not loopback's noise; these tests hold the lab to those sizes.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import regkit
from regkit.errors import LabError
from regkit.lab import Lab

DELAY = 0.2
RATE = 1 << 20
LAYER = 1 << 20


@pytest.fixture(scope="module")
def distant_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Open mode, one extra 1 MiB layer, a proxy 200 ms away and a CDN serving 1 MiB/s per connection."""
    lab = Lab(
        tmp_path_factory.mktemp("distant-lab"),
        mode="open",
        large_layers=2,
        large_layer_size=LAYER,
        proxy_delay=DELAY,
        cdn_rate=RATE,
    )
    with lab:
        yield lab


def waits(result: regkit.PullResult) -> dict[tuple[str, str, str], float]:
    """Time to headers of each request, keyed by what it asked for."""
    return {(e.step, e.method, urlsplit(e.original_url).path): e.time_to_headers or 0.0 for e in result.exchanges}


def test_every_request_through_the_proxy_waits_the_delay(distant_lab: Lab, tmp_path: Path):
    client = regkit.Client(insecure=True)
    direct = regkit.pull(f"{distant_lab.front_host}/library/large", tmp_path / "d.tar", client=client, cache=False)
    proxied = regkit.pull(
        "large", tmp_path / "p.tar", client=regkit.Client(endpoints=distant_lab.proxy_endpoints()), cache=False
    )
    near, far = waits(direct), waits(proxied)
    assert near.keys() == far.keys() and len(near) >= 8
    assert min(far.values()) >= DELAY, far  # every single request waits the delay, not just on average
    extra = statistics.median(far[key] - near[key] for key in near)
    assert DELAY * 0.8 < extra < DELAY + 0.1, extra  # and the difference is the delay asked for


def test_the_cdn_serves_each_connection_at_its_rate(distant_lab: Lab, tmp_path: Path):
    def pull(jobs: int) -> regkit.PullResult:
        with regkit.Client(insecure=True) as client:
            ref = f"{distant_lab.front_host}/library/large"
            return regkit.pull(ref, tmp_path / f"{jobs}.tar", jobs=jobs, client=client, cache=False)

    one, three = pull(1), pull(3)
    cdn = [e for e in one.exchanges if "redirect" in e.note and e.bytes_received >= LAYER]
    assert len(cdn) == 2
    assert all(e.total_time is not None and e.total_time >= 0.8 * LAYER / RATE for e in cdn)
    # Two 1 MiB layers at 1 MiB/s each: about 2 s one after the other, about 1 s side by side.
    assert three.seconds < one.seconds * 0.75, (one.seconds, three.seconds)


def test_distances_are_in_the_description_and_checked(distant_lab: Lab):
    text = distant_lab.describe()
    assert "every request 200 ms late" in text and f"at most {RATE} bytes/s per connection" in text
    with pytest.raises(LabError):
        Lab(Path("/nonexistent"), proxy_delay=-1)
