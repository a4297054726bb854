"""Window planning: contiguous, at most N days, from bookmark to end."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_marketo_bulk.windows import Window, format_timestamp, parse_marketo_datetime, plan_windows

UTC = dt.timezone.utc


def at(day: int, month: int = 1, hour: int = 0) -> dt.datetime:
    return dt.datetime(2024, month, day, hour, tzinfo=UTC)


def test_windows_are_contiguous_and_at_most_n_days() -> None:
    windows = plan_windows(at(1), at(15, 3), 31)
    assert [(w.start_at, w.end_at) for w in windows] == [
        ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        ("2024-02-01T00:00:00Z", "2024-03-03T00:00:00Z"),
        ("2024-03-03T00:00:00Z", "2024-03-15T00:00:00Z"),
    ]


def test_no_window_when_bookmark_is_at_the_end() -> None:
    assert plan_windows(at(2), at(2), 31) == []
    assert plan_windows(at(3), at(2), 31) == []


def test_naive_and_fractional_times_become_whole_utc_seconds() -> None:
    windows = plan_windows(dt.datetime(2024, 1, 1, 0, 0, 0, 900), at(2, hour=12), 1)
    assert windows == [Window(at(1), at(2)), Window(at(2), at(2, hour=12))]
    assert windows[0].as_filter() == {
        "startAt": "2024-01-01T00:00:00Z",
        "endAt": "2024-01-02T00:00:00Z",
    }


@pytest.mark.parametrize("days", [0, 32, -1])
def test_window_length_outside_marketo_limits_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.31"):
        plan_windows(at(1), at(2), days)


def test_format_timestamp_converts_offsets_to_utc() -> None:
    value = dt.datetime(2024, 1, 1, 1, 30, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert format_timestamp(value) == "2023-12-31T23:30:00Z"


def test_quota_reset_is_next_midnight_in_chicago() -> None:
    from tap_marketo_bulk.errors import quota_reset_text

    # 2024-07-01 20:30 UTC is 15:30 CDT (UTC-5): the reset is 2024-07-02 05:00 UTC.
    assert quota_reset_text(dt.datetime(2024, 7, 1, 20, 30, tzinfo=UTC)) == (
        "it resets at midnight US Central (2024-07-02 05:00 UTC, in 8 h 30 min)"
    )
    # In January Chicago is UTC-6.
    assert quota_reset_text(dt.datetime(2024, 1, 15, 5, 59, tzinfo=UTC)).startswith(
        "it resets at midnight US Central (2024-01-15 06:00 UTC, in 0 h 01 min)"
    )


def test_cuts_end_windows_where_an_interrupted_run_ended_them() -> None:
    # The last run planned [Jan 1, Feb 1) and [Feb 1, Feb 10 12:00) ("now" then); this run's
    # "now" is later, yet both windows come back unchanged so their jobs can be re-attached.
    cut = at(10, 2, hour=12)
    windows = plan_windows(at(1), at(20, 3), 31, cuts=[at(1, 2), cut, at(1, 1), at(1, 6)])
    assert [(w.start_at, w.end_at) for w in windows] == [
        ("2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
        ("2024-02-01T00:00:00Z", "2024-02-10T12:00:00Z"),
        ("2024-02-10T12:00:00Z", "2024-03-12T12:00:00Z"),
        ("2024-03-12T12:00:00Z", "2024-03-20T00:00:00Z"),
    ]


def test_window_text_round_trip() -> None:
    window = Window(at(1), at(10, 2, hour=12))
    assert str(window) == "2024-01-01T00:00:00Z..2024-02-10T12:00:00Z"
    assert Window.parse(str(window)) == window


def test_parse_marketo_datetime_is_aware_utc():
    parsed = parse_marketo_datetime("2015-11-18T15:25:35Z+0000")
    assert parsed == dt.datetime(2015, 11, 18, 15, 25, 35, tzinfo=dt.timezone.utc)
    assert parsed.utcoffset() == dt.timedelta(0)
    parsed = parse_marketo_datetime("2017-01-21T11:47:30-08:00")
    assert parsed == dt.datetime(2017, 1, 21, 19, 47, 30, tzinfo=dt.timezone.utc)
    assert parsed.tzinfo == dt.timezone.utc
    assert parse_marketo_datetime("2022-02-13T14:06:20Z") == dt.datetime(2022, 2, 13, 14, 6, 20, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError):
        parse_marketo_datetime("not a date")
