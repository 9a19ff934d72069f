"""Token response details that need no server."""

from datetime import datetime, timedelta, timezone

from regkit.steps.token_request import _parse_time


def test_issued_at_keeps_the_offset_and_trims_nanoseconds():
    parsed = _parse_time("2026-11-29T07:00:05.123456789+01:00")
    assert parsed == datetime(2026, 11, 29, 7, 0, 5, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert _parse_time("2026-11-29T07:00:05.5Z") == datetime(2026, 11, 29, 7, 0, 5, 500000, tzinfo=timezone.utc)
    assert _parse_time("2026-11-29T07:00:05Z") == datetime(2026, 11, 29, 7, 0, 5, tzinfo=timezone.utc)


def test_bad_issued_at_is_ignored():
    assert _parse_time("yesterday") is None
    assert _parse_time(12) is None
    assert _parse_time("2026-13-40T07:00:05Z") is None
