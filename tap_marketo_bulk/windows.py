"""Incremental windows: from the bookmark to the end of the range in steps of at most N days.

Marketo's bulk filters accept at most 31 days. Windows are contiguous and half-open in intent,
``[start, end)``: each request asks for ``startAt=start, endAt=end`` and the stream drops a row
stamped exactly ``end`` when the filter column is visible in the file, because that row belongs
to the next window. Whether Marketo treats ``endAt`` as inclusive is unconfirmed; with this rule
both readings neither skip nor double-count a record on a boundary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t

UTC = dt.timezone.utc


@dataclasses.dataclass(frozen=True)
class Window:
    """One incremental window ``[start, end)`` in UTC, whole seconds."""

    start: dt.datetime
    end: dt.datetime

    @property
    def start_at(self) -> str:
        """``startAt`` as Marketo wants it: ISO-8601, UTC, no milliseconds."""
        return format_timestamp(self.start)

    @property
    def end_at(self) -> str:
        """``endAt`` as Marketo wants it: ISO-8601, UTC, no milliseconds."""
        return format_timestamp(self.end)

    def as_filter(self) -> dict[str, str]:
        """The ``{startAt, endAt}`` object of a date-range filter."""
        return {"startAt": self.start_at, "endAt": self.end_at}

    def __str__(self) -> str:
        return f"{self.start_at}..{self.end_at}"

    @classmethod
    def parse(cls, text: str) -> Window:
        """The window of ``str(window)`` (as STATE keeps it for jobs in flight)."""
        start, _, end = text.partition("..")
        return cls(parse_timestamp(start), parse_timestamp(end))


def format_timestamp(value: dt.datetime) -> str:
    """UTC, second precision, ``Z`` suffix: the form Marketo's filters and files use."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> dt.datetime:
    """A date-time setting or bookmark as aware UTC, whole seconds.

    Takes ``2024-01-01T00:00:00Z`` (which ``datetime.fromisoformat`` only reads from Python
    3.11 on), any offset, or a bare date (midnight UTC); raises ValueError otherwise.
    """
    text = str(value).strip()
    if len(text) == 10:
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    return to_utc(parse_marketo_datetime(text))


def to_utc(value: dt.datetime) -> dt.datetime:
    """Aware UTC datetime truncated to whole seconds; naive values are taken as UTC."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).replace(microsecond=0)


def plan_windows(start: dt.datetime, end: dt.datetime, days: int, cuts: t.Iterable[dt.datetime] = ()) -> list[Window]:
    """Split ``[start, end)`` into contiguous windows of at most ``days`` days.

    ``cuts`` are instants where a window must end (windows of an earlier, interrupted run).
    Returns no window when ``start >= end`` (nothing new since the bookmark).
    """
    if not 1 <= days <= 31:
        msg = f"window length must be 1..31 days, got {days}"
        raise ValueError(msg)
    start, end = to_utc(start), to_utc(end)
    step = dt.timedelta(days=days)
    pending_cuts = sorted({to_utc(cut) for cut in cuts if start < to_utc(cut) < end})
    windows: list[Window] = []
    cursor = start
    while cursor < end:
        upper = min(cursor + step, end)
        while pending_cuts and pending_cuts[0] <= cursor:
            pending_cuts.pop(0)
        if pending_cuts and pending_cuts[0] < upper:
            upper = pending_cuts.pop(0)
        windows.append(Window(cursor, upper))
        cursor = upper
    return windows


# Everything else we accept: optional fraction, ``Z``, an offset (``+HH:MM`` or ``+HHMM``), or
# both as in Marketo's asset API (``2015-11-18T15:25:35Z+0000``; the offset wins). No zone at
# all is read as UTC, the zone Marketo uses everywhere. Written without fromisoformat because
# Python 3.10 does not accept ``Z`` there.
_DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(Z)?(?:([+-])([0-9]{2}):?([0-9]{2}))?"
)


def parse_marketo_datetime(value: str) -> dt.datetime:
    """Parse any datetime form Marketo writes into an aware UTC :class:`datetime.datetime`.

    Accepts ``2022-02-13T14:06:20Z``, ``2017-01-21T11:47:30-08:00``, ``...+0000``, the asset
    API's ``2015-11-18T15:25:35Z+0000`` and fractional seconds; raises ValueError otherwise.
    """
    match = _DATETIME_RE.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not a datetime: {value!r}")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    microsecond = int(fraction[:6].ljust(6, "0")) if fraction else 0
    tz = UTC
    if sign:
        offset = dt.timedelta(hours=int(off_h), minutes=int(off_m))
        if offset >= dt.timedelta(hours=24):
            raise ValueError(f"offset out of range: {value!r}")
        if offset:
            tz = dt.timezone(-offset if sign == "-" else offset)
    parsed = dt.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), microsecond, tz)
    return parsed.astimezone(UTC)
