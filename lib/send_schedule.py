"""Send-schedule engine: when may the next step of a sales sequence go out?

Pure Python (standard library only) so it can be unit-tested without an Odoo database; the Odoo models translate
their working hours, global leaves and contact timezones into the plain values used here.

Semantics
---------
A send window is a weekday plus a local wall-clock range ``[start, end)`` in hours. An instant (a naive UTC
``datetime``) is *open* when its wall-clock time in the schedule's timezone (or the contact's timezone given as
``tz=``) falls inside a window of its local weekday, and it is not inside an excluded period.

Defining windows on wall-clock times makes daylight-saving changes behave the way a person reading a clock expects:

* spring forward: wall times inside the gap never happen, so a window starting in the gap opens at the jump itself
  (the first instant showing a later wall time) and a 01:00-04:00 window lasts two real hours that day;
* fall back: repeated wall times happen twice and are open both times; the earliest slot is the first occurrence
  (``fold=0``), the second occurrence is only used when the first one is already past or excluded.

Excluded periods are absolute half-open ``[start, end)`` UTC ranges (Odoo stores global leaves that way).
"""

import math
import random
from bisect import bisect_right
from dataclasses import dataclass, fields
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ScheduleError", "SendSchedule", "Window"]

HOURS_PER_DAY = 24
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Real zones never change their UTC offset twice within a few hours, so sampling the offset this often and
# bisecting between samples finds every transition around a local date.
_OFFSET_SAMPLE_STEP = timedelta(hours=3)
# UTC offsets lie within -12h..+14h today (about +-16h for historic local mean time): every instant whose local
# date is D lies within this margin of the naive day D read as UTC.
_OFFSET_MARGIN = timedelta(hours=16)

NO_WINDOW_MESSAGE = (
    "The send schedule has no send window: add at least one weekday time slot "
    "(for example Monday 09:00-17:00) to its working hours."
)


class ScheduleError(ValueError):
    """Raised when a schedule cannot produce a slot (no window at all, bad window, unknown timezone, horizon
    exhausted). The message names the setting at fault and how to fix it, so it can be shown to users as is.
    """


@dataclass(frozen=True)
class Window:
    """A weekly send window: local wall-clock hours ``[start, end)`` on one weekday.

    ``weekday`` follows ``datetime.weekday()`` and Odoo's ``resource.calendar.attendance.dayofweek``
    (0 = Monday ... 6 = Sunday); ``start`` and ``end`` are hours as floats (9.5 = 09:30), ``end`` may be 24
    (the next local midnight).
    """

    weekday: int
    start: float
    end: float

    def __post_init__(self):
        _check_window(self.weekday, self.start, self.end)

    def __str__(self):
        return f"{WEEKDAY_NAMES[self.weekday]} {format_hour(self.start)}-{format_hour(self.end)}"


def format_hour(hours):
    """Render a float hour as HH:MM (9.5 -> "09:30", 24 -> "24:00") for messages."""
    minutes = round(hours * 60)
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _is_number(value):
    # bool is an int subclass, but True as an hour is a data error rather than 1 o'clock.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _hours_to_seconds(hours):
    # Whole seconds keep the wall-clock arithmetic exact (9.1 hours is not exactly representable as a float).
    return round(hours * 3600)


def _check_window(weekday, start, end):
    """Raise ScheduleError unless (weekday, start, end) describes a usable window."""
    if isinstance(weekday, bool) or not isinstance(weekday, int) or not 0 <= weekday < len(WEEKDAY_NAMES):
        raise ScheduleError(
            f"A send window has an invalid weekday {weekday!r}: use a whole number from 0 (Monday) to 6 (Sunday)."
        )
    day = WEEKDAY_NAMES[weekday]
    for label, value in (("start", start), ("end", end)):
        if not _is_number(value):
            raise ScheduleError(
                f"The {day} send window has an invalid {label} hour {value!r}: "
                "use a number of hours between 0 and 24 (for example 9.5 for 09:30)."
            )
    if start < 0:
        raise ScheduleError(
            f"The {day} send window starts at a negative hour ({start!r}): use a start hour from 0 (midnight) to 24."
        )
    if end > HOURS_PER_DAY:
        raise ScheduleError(
            f"The {day} send window ends after 24:00 ({end!r}): use an end hour of at most 24 (midnight); "
            "to keep sending after midnight add a window starting at 0 on the next day."
        )
    if _hours_to_seconds(start) >= _hours_to_seconds(end):
        raise ScheduleError(
            f"The {day} send window {format_hour(start)}-{format_hour(end)} does not end after it starts: "
            "set its end hour later than its start hour."
        )


def _as_window(item):
    """Accept a Window or a (weekday, start, end) tuple/list."""
    if isinstance(item, Window):
        return item
    if isinstance(item, (tuple, list)) and len(item) == len(fields(Window)):
        return Window(*item)
    raise ScheduleError(
        f"A send window must be a Window or a (weekday, start hour, end hour) tuple such as (0, 9, 17), got {item!r}."
    )


def _merge_intervals(intervals):
    """Sort intervals and merge the overlapping or touching ones; works for numbers and datetimes alike."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            if end > merged[-1][1]:
                merged[-1] = (merged[-1][0], end)
        else:
            merged.append((start, end))
    return merged


def _as_naive_utc(value):
    """Naive UTC datetime from a naive (taken as UTC) or aware datetime."""
    if not isinstance(value, datetime):
        raise TypeError(f"Expected a datetime in UTC, got {value!r}.")
    if value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value.replace(tzinfo=None)


def _excluded_period(item):
    """One excluded period as a (start, end) pair of naive UTC datetimes; ScheduleError when it is not a pair."""
    try:
        start, end = item
        return _as_naive_utc(start), _as_naive_utc(end)
    except (TypeError, ValueError) as error:
        raise ScheduleError(
            f"An excluded period must be a (start, end) pair of UTC datetimes, got {item!r}."
        ) from error


def _merge_excluded(excluded):
    """Validate excluded (start, end) periods and return them sorted, merged and naive UTC."""
    periods = []
    for item in excluded:
        start, end = _excluded_period(item)
        if end < start:
            raise ScheduleError(
                f"The excluded period {start} - {end} (UTC) ends before it starts: swap its start and end."
            )
        if end > start:  # an empty period excludes nothing
            periods.append((start, end))
    return _merge_intervals(periods)


def _zone(tz, setting):
    """ZoneInfo for an IANA name (a ZoneInfo is passed through); ScheduleError naming `setting` otherwise."""
    if isinstance(tz, ZoneInfo):
        return tz
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as error:
        raise ScheduleError(
            f"Unknown timezone {tz!r} for {setting}: use an IANA timezone name such as "
            "'Europe/Berlin' or 'America/New_York'."
        ) from error


def _to_local(zone, instant):
    """Naive local wall-clock time of a naive UTC instant."""
    return zone.fromutc(instant.replace(tzinfo=zone)).replace(tzinfo=None)


def _utc_offset(zone, instant):
    """UTC offset of `zone` at a naive UTC instant."""
    return zone.fromutc(instant.replace(tzinfo=zone)).utcoffset()


def _first_offset_change(zone, low, high, offset):
    """First whole-second instant in (low, high] whose UTC offset differs from `offset`.

    Expects offset(low) == offset != offset(high); tz transitions happen on whole seconds, so bisecting
    down to one second finds them exactly.
    """
    while high - low > SECOND:
        middle = low + timedelta(seconds=int((high - low).total_seconds()) // 2)
        if _utc_offset(zone, middle) == offset:
            low = middle
        else:
            high = middle
    return high


def _wall_to_utc(zone, wall):
    """First instant whose local wall time is `wall` or, when `wall` falls in a spring-forward gap, the jump.

    Repeated (fall-back) wall times resolve to their first occurrence (fold=0).
    """
    instant = wall.replace(tzinfo=zone).astimezone(UTC).replace(tzinfo=None)
    if _to_local(zone, instant) == wall:
        return instant
    # In a gap fold=1 reads the wall time with the offset after the jump, which lands before the jump; the jump
    # itself is the first instant showing a wall time later than `wall`.
    before = wall.replace(tzinfo=zone, fold=1).astimezone(UTC).replace(tzinfo=None)
    return _first_offset_change(zone, before, instant, _utc_offset(zone, before))


def _local_day_start(zone, day):
    """Naive UTC instant at which the local calendar day `day` begins."""
    return _wall_to_utc(zone, datetime.combine(day, time()))


@lru_cache(maxsize=4096)
def _offset_segments(zone, day):
    """Constant-offset stretches ((start, end, offset) in naive UTC) covering every instant of local date `day`."""
    midnight = datetime.combine(day, time())
    low, high = midnight - _OFFSET_MARGIN, midnight + DAY + _OFFSET_MARGIN
    segments = []
    segment_start, offset = low, _utc_offset(zone, low)
    probe = low
    while probe < high:
        following = min(probe + _OFFSET_SAMPLE_STEP, high)
        while _utc_offset(zone, following) != offset:
            change = _first_offset_change(zone, probe, following, offset)
            segments.append((segment_start, change, offset))
            segment_start, probe, offset = change, change, _utc_offset(zone, change)
        probe = following
    segments.append((segment_start, high, offset))
    return tuple(segments)


@lru_cache(maxsize=4096)
def _window_pieces(zone, day, windows):
    """Sorted, merged naive UTC intervals whose local wall time is inside `windows` (seconds) on local date `day`.

    Each constant-offset stretch maps wall time to UTC by a plain subtraction, which is what makes gaps shrink a
    window and repeated hours show up twice.
    """
    midnight = datetime.combine(day, time())
    pieces = []
    for start_seconds, end_seconds in windows:
        wall_start = midnight + timedelta(seconds=start_seconds)
        wall_end = midnight + timedelta(seconds=end_seconds)
        for segment_start, segment_end, offset in _offset_segments(zone, day):
            low = max(segment_start, wall_start - offset)
            high = min(segment_end, wall_end - offset)
            if low < high:
                pieces.append((low, high))
    return tuple(_merge_intervals(pieces))


def _random_instant(low, high, seed, day):
    """Reproducible whole-second instant in [low, high), drawn from (seed, local date of the window).

    random.Random seeds from a str through SHA-512, so the draw is the same in every process (unlike hash()).
    """
    first = low if not low.microsecond else low.replace(microsecond=0) + SECOND
    if first >= high:  # sub-second piece: no whole second inside, `low` is still a valid instant
        return low
    whole_seconds, remainder = divmod(high - first, SECOND)
    count = whole_seconds + (1 if remainder else 0)
    generator = random.Random(f"{seed}|{day.isoformat()}")
    return first + generator.randrange(count) * SECOND


class SendSchedule:
    """Weekly send windows in a timezone, minus excluded periods: answers "when may we send next?"."""

    def __init__(self, windows, tz="UTC", excluded=(), horizon_days=730):
        """windows: iterable of Window or (weekday, start, end) tuples; several windows per weekday allowed (e.g.
        8-12 and 13-17), overlapping/adjacent ones merged.
        tz: IANA name of the schedule's timezone (windows are local wall-clock times in it); an empty value
        (Odoo's False) means UTC.
        excluded: iterable of (start, end) pairs of naive UTC datetimes, half-open [start, end): absolute periods
        when nothing may be sent. May span days/weekends/overlap.
        horizon_days: how many local days after `at` next_slot searches before giving up.
        Raises ScheduleError on a bad window, an unknown timezone or a bad excluded period. An empty windows list
        is accepted here, next_slot then raises ScheduleError.
        """
        parsed = [_as_window(item) for item in windows]
        if isinstance(horizon_days, bool) or not isinstance(horizon_days, int) or horizon_days < 1:
            raise ScheduleError(
                f"The send schedule horizon must be a positive number of days, got {horizon_days!r}: "
                "use for example 730 (two years)."
            )
        self.tz = tz or "UTC"
        self.horizon_days = horizon_days
        self._zone = _zone(self.tz, "the send schedule")
        # Per weekday: merged (start, end) windows in whole seconds since local midnight.
        self._seconds_by_weekday = tuple(
            tuple(
                _merge_intervals(
                    (_hours_to_seconds(w.start), _hours_to_seconds(w.end)) for w in parsed if w.weekday == weekday
                )
            )
            for weekday in range(7)
        )
        self._excluded = tuple(_merge_excluded(excluded))
        # Merged periods are disjoint and sorted, so their starts and their ends are both sorted: bisect works.
        self._excluded_starts = [start for start, _end in self._excluded]
        self._excluded_ends = [end for _start, end in self._excluded]

    def __repr__(self):
        return (
            f"SendSchedule(windows={[str(w) for w in self.windows]!r}, tz={self.tz!r}, "
            f"excluded={len(self._excluded)} period(s), horizon_days={self.horizon_days})"
        )

    @property
    def windows(self):
        """The merged windows, as Window objects sorted by weekday and start."""
        return tuple(
            Window(weekday, start / 3600, end / 3600)
            for weekday, day_windows in enumerate(self._seconds_by_weekday)
            for start, end in day_windows
        )

    @property
    def excluded(self):
        """The merged excluded periods, sorted naive UTC (start, end) pairs."""
        return self._excluded

    def _resolve_zone(self, tz):
        # Odoo hands over False for a contact without timezone: fall back to the schedule's own.
        return _zone(tz, "the contact") if tz else self._zone

    def _excluded_end_containing(self, instant):
        """End of the excluded period containing `instant`, or None when it is not excluded."""
        index = bisect_right(self._excluded_starts, instant) - 1
        if index >= 0 and instant < self._excluded_ends[index]:
            return self._excluded_ends[index]
        return None

    def _allowed_parts(self, start, end):
        """Yield the sub-intervals of [start, end) left after removing the excluded periods."""
        index = bisect_right(self._excluded_ends, start)  # first period still running at `start`
        cursor = start
        while index < len(self._excluded) and self._excluded[index][0] < end:
            excluded_start, excluded_end = self._excluded[index]
            if cursor < excluded_start:
                yield cursor, excluded_start
            cursor = max(cursor, excluded_end)
            index += 1
        if cursor < end:
            yield cursor, end

    def _first_part_on(self, zone, day, at):
        """(start, end, day) of the earliest allowed part of local date `day`'s windows ending after `at`."""
        windows = self._seconds_by_weekday[day.weekday()]
        if not windows:
            return None
        for piece_start, piece_end in _window_pieces(zone, day, windows):
            if piece_end <= at:
                continue
            for part_start, part_end in self._allowed_parts(piece_start, piece_end):
                if part_end > at:
                    return max(part_start, at), part_end, day
        return None

    def next_slot(self, at, tz=None, seed=None):
        """Earliest allowed send instant at or after `at` (naive UTC; an aware datetime is converted).

        Windows are read in `tz` if given (e.g. the contact's timezone), else in the schedule's timezone.
        With a `seed` (e.g. the enrollment id) the result is instead a reproducible pseudo-random whole-second
        instant of the first allowed piece found, uniform in [max(at, piece start), piece end), drawn from
        (seed, local date of the window) so that sends spread over the window instead of all firing at its start.
        Raises ScheduleError when there is no window at all or no allowed instant within horizon_days.
        """
        at = _as_naive_utc(at)
        if not any(self._seconds_by_weekday):
            raise ScheduleError(NO_WINDOW_MESSAGE)
        zone = self._resolve_zone(tz)
        # One day earlier than `at`'s local date: a clock turned back across midnight repeats the previous date.
        first_day = _to_local(zone, at).date() - DAY
        last_day = first_day + timedelta(days=self.horizon_days + 1)
        search_from = at
        excluded_end = self._excluded_end_containing(at)
        if excluded_end is not None:
            # Nothing is open before the period ends: jump there instead of scanning its days one by one.
            search_from = excluded_end
        day = max(first_day, _to_local(zone, search_from).date() - DAY)
        while day <= last_day:
            found = self._first_part_on(zone, day, search_from)
            if found is not None:
                # Only a clock turned back across midnight lets the next date open earlier; cheap to rule out.
                following = self._first_part_on(zone, day + DAY, search_from)
                if following is not None and following[0] < found[0]:
                    found = following
                start, end, window_day = found
                return start if seed is None else _random_instant(start, end, seed, window_day)
            day += DAY
        raise ScheduleError(
            f"The send schedule has no send time within {self.horizon_days} days after {at:%Y-%m-%d %H:%M} UTC: "
            "every send window in that period is excluded. Shorten the excluded periods (holidays, leaves) "
            "or add send windows to its working hours."
        )

    def next_day_start(self, at, tz=None):
        """Naive UTC instant of the next local midnight strictly after `at`, in `tz` or the schedule's timezone.

        Used to push a send to "tomorrow" when a daily cap is reached.
        """
        at = _as_naive_utc(at)
        zone = self._resolve_zone(tz)
        day = _to_local(zone, at).date() + DAY
        start = _local_day_start(zone, day)
        while start <= at:  # only when a clock turned back across midnight
            day += DAY
            start = _local_day_start(zone, day)
        return start

    def day_bounds(self, at, tz=None):
        """(start, end) naive UTC instants of the local calendar day containing `at` (used to count today's sends).

        A DST day is 23 or 25 hours long; a day whose midnight falls in a gap starts at the jump.
        """
        at = _as_naive_utc(at)
        zone = self._resolve_zone(tz)
        day = _to_local(zone, at).date()
        return _local_day_start(zone, day), _local_day_start(zone, day + DAY)

    def is_open(self, at, tz=None):
        """True when `at` (naive UTC) is inside a send window (read in `tz` or the schedule tz) and not excluded."""
        at = _as_naive_utc(at)
        if self._excluded_end_containing(at) is not None:
            return False
        local = _to_local(self._resolve_zone(tz), at)
        since_midnight = local - datetime.combine(local.date(), time())
        return any(
            timedelta(seconds=start) <= since_midnight < timedelta(seconds=end)
            for start, end in self._seconds_by_weekday[local.weekday()]
        )
