"""Tests of the pure-Python send-schedule engine (lib/send_schedule.py).

Run with: PYTHONPATH=lib python -m pytest -q lib/tests

Reference dates (2026): Jan 12 is a Monday, so Wed = Jan 14, Fri = Jan 16, Mon = Jan 19, Tue = Jan 20.
DST changes: America/New_York Mar 8 (EST UTC-5 -> EDT UTC-4 at 02:00) and Nov 1 (back at 02:00);
Europe/Berlin Mar 29 (CET UTC+1 -> CEST UTC+2 at 02:00) and Oct 25 (back at 03:00);
Australia/Sydney Apr 5 (AEDT UTC+11 -> AEST UTC+10 at 03:00) and Oct 4 (AEST -> AEDT at 02:00). All Sundays.
"""

import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import send_schedule
from hypothesis import given, settings
from hypothesis import strategies as st
from local_dates import excluded_from_local_dates
from send_schedule import ScheduleError, SendSchedule, Window

D = datetime
MINUTE = timedelta(minutes=1)
WORKDAYS_9_17 = [(weekday, 9, 17) for weekday in range(5)]
EVERY_DAY_9_17 = [(weekday, 9, 17) for weekday in range(7)]
SUNDAY = 6


def to_local(instant, tz):
    """Naive UTC -> naive local wall time, computed independently of the engine."""
    return instant.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def in_local_window(instant, tz, windows):
    """True when the wall time of `instant` in `tz` is inside one of `windows` ((weekday, start, end) hours)."""
    local = to_local(instant, tz)
    hours = local.hour + local.minute / 60 + local.second / 3600 + local.microsecond / 3_600_000_000
    return any(weekday == local.weekday() and start <= hours < end for weekday, start, end in windows)


def is_excluded(instant, excluded):
    return any(start <= instant < end for start, end in excluded)


# --- basics (UTC schedule) -----------------------------------------------------------------------------------


def test_inside_window_returns_at():
    schedule = SendSchedule(WORKDAYS_9_17)
    # Wed 10:30 is inside Wed 09:00-17:00.
    assert schedule.next_slot(D(2026, 1, 14, 10, 30, 15)) == D(2026, 1, 14, 10, 30, 15)


def test_before_window_returns_window_start():
    schedule = SendSchedule(WORKDAYS_9_17)
    assert schedule.next_slot(D(2026, 1, 14, 7, 0)) == D(2026, 1, 14, 9, 0)


def test_window_bounds_are_half_open():
    schedule = SendSchedule(WORKDAYS_9_17)
    assert schedule.next_slot(D(2026, 1, 14, 9, 0)) == D(2026, 1, 14, 9, 0)
    # 17:00 is the end of Wednesday's window, not inside it -> Thursday 09:00.
    assert schedule.next_slot(D(2026, 1, 14, 17, 0)) == D(2026, 1, 15, 9, 0)
    assert schedule.is_open(D(2026, 1, 14, 16, 59, 59))
    assert not schedule.is_open(D(2026, 1, 14, 17, 0))


def test_after_friday_goes_to_monday():
    schedule = SendSchedule(WORKDAYS_9_17)
    # Fri Jan 16 17:30 -> Sat/Sun have no window -> Mon Jan 19 09:00.
    assert schedule.next_slot(D(2026, 1, 16, 17, 30)) == D(2026, 1, 19, 9, 0)
    assert schedule.next_slot(D(2026, 1, 17, 12, 0)) == D(2026, 1, 19, 9, 0)


def test_lunch_break():
    schedule = SendSchedule([(weekday, 8, 12) for weekday in range(5)] + [(weekday, 13, 17) for weekday in range(5)])
    assert schedule.next_slot(D(2026, 1, 14, 12, 30)) == D(2026, 1, 14, 13, 0)
    assert schedule.next_slot(D(2026, 1, 14, 12, 0)) == D(2026, 1, 14, 13, 0)
    assert schedule.next_slot(D(2026, 1, 14, 11, 59)) == D(2026, 1, 14, 11, 59)
    assert schedule.next_slot(D(2026, 1, 14, 7, 0)) == D(2026, 1, 14, 8, 0)


def test_overlapping_and_adjacent_windows_are_merged():
    schedule = SendSchedule([Window(0, 11, 14), (0, 9, 12), [0, 14, 15.5], (1, 9.5, 10.25)])
    assert schedule.windows == (Window(0, 9, 15.5), Window(1, 9.5, 10.25))
    # Mon Jan 12 14:00 was the end of one window and the start of the next: still open.
    assert schedule.next_slot(D(2026, 1, 12, 14, 0)) == D(2026, 1, 12, 14, 0)
    # 9.5 = 09:30 and 10.25 = 10:15 on Tuesday.
    assert schedule.next_slot(D(2026, 1, 12, 15, 30)) == D(2026, 1, 13, 9, 30)
    assert schedule.next_slot(D(2026, 1, 13, 10, 15)) == D(2026, 1, 19, 9, 0)


def test_window_ending_at_midnight_and_next_day_window_from_midnight():
    schedule = SendSchedule([(2, 20, 24), (3, 0, 2)])
    assert schedule.next_slot(D(2026, 1, 14, 23, 59, 59)) == D(2026, 1, 14, 23, 59, 59)
    assert schedule.next_slot(D(2026, 1, 15, 0, 0)) == D(2026, 1, 15, 0, 0)
    # Thu 02:00 is the end of the Thursday window -> next Wednesday 20:00.
    assert schedule.next_slot(D(2026, 1, 15, 2, 0)) == D(2026, 1, 21, 20, 0)
    # 24:00 is the next local midnight: nothing at the start of Wednesday itself.
    assert schedule.next_slot(D(2026, 1, 14, 0, 0)) == D(2026, 1, 14, 20, 0)


def test_aware_at_is_converted_to_naive_utc():
    schedule = SendSchedule(WORKDAYS_9_17)
    # 08:30 in UTC-3 is 11:30 UTC, inside the window.
    aware = D(2026, 1, 14, 8, 30, tzinfo=timezone(timedelta(hours=-3)))
    assert schedule.next_slot(aware) == D(2026, 1, 14, 11, 30)
    assert schedule.is_open(aware)


# --- timezones ---------------------------------------------------------------------------------------------------


def test_berlin_schedule_in_winter():
    schedule = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    # Wed 06:00 UTC = 07:00 CET -> 09:00 CET = 08:00 UTC.
    assert schedule.next_slot(D(2026, 1, 14, 6, 0)) == D(2026, 1, 14, 8, 0)
    # Wed 16:30 UTC = 17:30 CET -> Thu 09:00 CET = Thu 08:00 UTC.
    assert schedule.next_slot(D(2026, 1, 14, 16, 30)) == D(2026, 1, 15, 8, 0)
    # Wed 15:59 UTC = 16:59 CET is inside.
    assert schedule.next_slot(D(2026, 1, 14, 15, 59)) == D(2026, 1, 14, 15, 59)


def test_berlin_schedule_in_summer():
    schedule = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    # Wed Jul 15 05:00 UTC = 07:00 CEST -> 09:00 CEST = 07:00 UTC.
    assert schedule.next_slot(D(2026, 7, 15, 5, 0)) == D(2026, 7, 15, 7, 0)
    # Fri Jul 17 15:00 UTC = 17:00 CEST (window end) -> Mon Jul 20 09:00 CEST = 07:00 UTC.
    assert schedule.next_slot(D(2026, 7, 17, 15, 0)) == D(2026, 7, 20, 7, 0)


def test_contact_timezone_override():
    schedule = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    # Wed 06:00 UTC = 15:00 in Tokyo (UTC+9): inside the Tokyo window although it is 07:00 in Berlin.
    assert schedule.next_slot(D(2026, 1, 14, 6, 0), tz="Asia/Tokyo") == D(2026, 1, 14, 6, 0)
    assert schedule.next_slot(D(2026, 1, 14, 6, 0)) == D(2026, 1, 14, 8, 0)
    # Wed 08:00 UTC = 17:00 JST -> Thu 09:00 JST = Thu 00:00 UTC.
    assert schedule.next_slot(D(2026, 1, 14, 8, 0), tz="Asia/Tokyo") == D(2026, 1, 15, 0, 0)
    # Fri 08:00 UTC = Fri 17:00 JST -> Mon 09:00 JST = Mon Jan 19 00:00 UTC; in Berlin it is Fri 09:00, open.
    assert schedule.next_slot(D(2026, 1, 16, 8, 0), tz="Asia/Tokyo") == D(2026, 1, 19, 0, 0)
    assert schedule.next_slot(D(2026, 1, 16, 8, 0)) == D(2026, 1, 16, 8, 0)
    # Thu 23:30 UTC = Fri 08:30 JST -> Fri 09:00 JST = Fri 00:00 UTC.
    assert schedule.next_slot(D(2026, 1, 15, 23, 30), tz="Asia/Tokyo") == D(2026, 1, 16, 0, 0)
    assert schedule.is_open(D(2026, 1, 14, 6, 0), tz="Asia/Tokyo")
    assert not schedule.is_open(D(2026, 1, 14, 6, 0))


def test_false_or_empty_timezone_falls_back():
    # Odoo gives False for an unset timezone: the schedule uses UTC, a contact falls back to the schedule's tz.
    assert SendSchedule(WORKDAYS_9_17, tz=False).next_slot(D(2026, 1, 14, 7, 0)) == D(2026, 1, 14, 9, 0)
    berlin = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    assert berlin.next_slot(D(2026, 1, 14, 6, 0), tz=False) == D(2026, 1, 14, 8, 0)


def test_timezone_may_be_a_zoneinfo():
    schedule = SendSchedule(WORKDAYS_9_17, tz=ZoneInfo("Europe/Berlin"))
    assert schedule.next_slot(D(2026, 1, 14, 6, 0), tz=ZoneInfo("Asia/Tokyo")) == D(2026, 1, 14, 6, 0)


# --- daylight saving time -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tz", "at", "expected"),
    [
        # New York spring forward, Sun Mar 8: Sat 09:00 EST = 14:00 UTC, Sun 09:00 EDT = 13:00 UTC.
        ("America/New_York", D(2026, 3, 7, 12, 0), D(2026, 3, 7, 14, 0)),
        ("America/New_York", D(2026, 3, 7, 22, 0), D(2026, 3, 8, 13, 0)),  # Sat 17:00 EST -> Sun 09:00 EDT
        ("America/New_York", D(2026, 3, 8, 13, 0), D(2026, 3, 8, 13, 0)),
        # New York fall back, Sun Nov 1: Sat 09:00 EDT = 13:00 UTC, Sun 09:00 EST = 14:00 UTC.
        ("America/New_York", D(2026, 10, 31, 12, 0), D(2026, 10, 31, 13, 0)),
        ("America/New_York", D(2026, 10, 31, 21, 0), D(2026, 11, 1, 14, 0)),  # Sat 17:00 EDT -> Sun 09:00 EST
        ("America/New_York", D(2026, 11, 1, 13, 30), D(2026, 11, 1, 14, 0)),  # Sun 08:30 EST
        # Berlin spring forward, Sun Mar 29: Sat 09:00 CET = 08:00 UTC, Sun 09:00 CEST = 07:00 UTC.
        ("Europe/Berlin", D(2026, 3, 28, 0, 0), D(2026, 3, 28, 8, 0)),
        ("Europe/Berlin", D(2026, 3, 28, 16, 0), D(2026, 3, 29, 7, 0)),  # Sat 17:00 CET -> Sun 09:00 CEST
        # Berlin fall back, Sun Oct 25: Sat 09:00 CEST = 07:00 UTC, Sun 09:00 CET = 08:00 UTC.
        ("Europe/Berlin", D(2026, 10, 24, 0, 0), D(2026, 10, 24, 7, 0)),
        ("Europe/Berlin", D(2026, 10, 24, 15, 0), D(2026, 10, 25, 8, 0)),  # Sat 17:00 CEST -> Sun 09:00 CET
        # Sydney DST ends Sun Apr 5: Sat 09:00 AEDT = Fri 22:00 UTC, Sun 09:00 AEST = Sat 23:00 UTC.
        ("Australia/Sydney", D(2026, 4, 3, 12, 0), D(2026, 4, 3, 22, 0)),
        ("Australia/Sydney", D(2026, 4, 4, 6, 0), D(2026, 4, 4, 23, 0)),  # Sat 17:00 AEDT -> Sun 09:00 AEST
        # Sydney DST starts Sun Oct 4: Sat 09:00 AEST = Fri 23:00 UTC, Sun 09:00 AEDT = Sat 22:00 UTC.
        ("Australia/Sydney", D(2026, 10, 2, 12, 0), D(2026, 10, 2, 23, 0)),
        ("Australia/Sydney", D(2026, 10, 3, 7, 0), D(2026, 10, 3, 22, 0)),  # Sat 17:00 AEST -> Sun 09:00 AEDT
    ],
)
def test_window_start_shifts_one_hour_in_utc_across_dst(tz, at, expected):
    schedule = SendSchedule(EVERY_DAY_9_17, tz=tz)
    assert schedule.next_slot(at) == expected
    assert to_local(expected, tz).hour == 9 or expected == at


def test_weekday_window_after_a_dst_weekend():
    schedule = SendSchedule(WORKDAYS_9_17, tz="America/New_York")
    # Fri Mar 6 17:00 EST = 22:00 UTC -> Mon Mar 9 09:00 EDT = 13:00 UTC (was 14:00 UTC before the change).
    assert schedule.next_slot(D(2026, 3, 6, 13, 0)) == D(2026, 3, 6, 14, 0)
    assert schedule.next_slot(D(2026, 3, 6, 22, 0)) == D(2026, 3, 9, 13, 0)


def test_window_straddling_the_spring_forward_gap_new_york():
    # Sunday 01:00-04:00 on Mar 8: 01:00 EST = 06:00 UTC, clocks jump 02:00 EST -> 03:00 EDT at 07:00 UTC,
    # 04:00 EDT = 08:00 UTC: the window lasts two real hours, [06:00, 08:00) UTC.
    schedule = SendSchedule([(SUNDAY, 1, 4)], tz="America/New_York")
    assert schedule.next_slot(D(2026, 3, 8, 0, 0)) == D(2026, 3, 8, 6, 0)
    assert schedule.next_slot(D(2026, 3, 8, 6, 59, 59)) == D(2026, 3, 8, 6, 59, 59)  # 01:59:59 EST
    assert schedule.next_slot(D(2026, 3, 8, 7, 0)) == D(2026, 3, 8, 7, 0)  # 03:00 EDT
    # 08:00 UTC = 04:00 EDT, the end -> next Sunday Mar 15 01:00 EDT = 05:00 UTC.
    assert schedule.next_slot(D(2026, 3, 8, 8, 0)) == D(2026, 3, 15, 5, 0)
    open_minutes = sum(schedule.is_open(D(2026, 3, 8) + minute * MINUTE) for minute in range(24 * 60))
    assert open_minutes == 120


def test_window_straddling_the_spring_forward_gap_berlin_and_sydney():
    # Berlin Sun Mar 29: 01:00 CET = 00:00 UTC, 04:00 CEST = 02:00 UTC.
    berlin = SendSchedule([(SUNDAY, 1, 4)], tz="Europe/Berlin")
    assert berlin.next_slot(D(2026, 3, 28, 20, 0)) == D(2026, 3, 29, 0, 0)
    assert berlin.next_slot(D(2026, 3, 29, 2, 0)) == D(2026, 4, 4, 23, 0)  # next Sunday 01:00 CEST
    # Sydney Sun Oct 4: 01:00 AEST = Sat 15:00 UTC, jump at 16:00 UTC, 04:00 AEDT = Sat 17:00 UTC.
    sydney = SendSchedule([(SUNDAY, 1, 4)], tz="Australia/Sydney")
    assert sydney.next_slot(D(2026, 10, 3, 15, 59)) == D(2026, 10, 3, 15, 59)
    assert sydney.next_slot(D(2026, 10, 3, 17, 0)) == D(2026, 10, 10, 14, 0)  # Sun Oct 11 01:00 AEDT


def test_window_inside_or_starting_in_the_gap():
    # Sunday 02:00-03:00 never happens on Mar 8 in New York -> Sun Mar 15 02:00 EDT = 06:00 UTC.
    only_gap = SendSchedule([(SUNDAY, 2, 3)], tz="America/New_York")
    assert only_gap.next_slot(D(2026, 3, 8, 0, 0)) == D(2026, 3, 15, 6, 0)
    # Sunday 02:30-04:00: 02:30 does not exist, the window opens at the jump, 03:00 EDT = 07:00 UTC.
    from_gap = SendSchedule([(SUNDAY, 2.5, 4)], tz="America/New_York")
    assert from_gap.next_slot(D(2026, 3, 8, 0, 0)) == D(2026, 3, 8, 7, 0)


def test_fall_back_repeated_hour_uses_first_then_second_occurrence():
    # Sunday Nov 1, New York: 01:00-01:30 happens at 05:00 UTC (EDT) and again at 06:00 UTC (EST).
    schedule = SendSchedule([(SUNDAY, 1, 1.5)], tz="America/New_York")
    assert schedule.next_slot(D(2026, 11, 1, 0, 0)) == D(2026, 11, 1, 5, 0)
    assert schedule.next_slot(D(2026, 11, 1, 5, 30)) == D(2026, 11, 1, 6, 0)
    # After the second occurrence -> Sun Nov 8 01:00 EST = 06:00 UTC.
    assert schedule.next_slot(D(2026, 11, 1, 6, 30)) == D(2026, 11, 8, 6, 0)
    # A window straddling the repeated hour: 00:30-02:30 runs 04:30 UTC (EDT) .. 07:30 UTC (EST), 3 real hours.
    longer = SendSchedule([(SUNDAY, 0.5, 2.5)], tz="America/New_York")
    open_minutes = sum(longer.is_open(D(2026, 11, 1) + minute * MINUTE) for minute in range(24 * 60))
    assert open_minutes == 180


# (timezone, local date of a DST change): tests below start near these days to stress the transitions.
DST_DAYS = [
    ("America/New_York", date(2026, 3, 8)),
    ("America/New_York", date(2026, 11, 1)),
    ("Europe/Berlin", date(2026, 3, 29)),
    ("Europe/Berlin", date(2026, 10, 25)),
    ("Australia/Sydney", date(2026, 4, 5)),
    ("Australia/Sydney", date(2026, 10, 4)),
    ("Pacific/Chatham", date(2026, 4, 5)),  # 03:45 CHADT (+13:45) back to 02:45 CHAST (+12:45)
    ("Pacific/Chatham", date(2026, 9, 27)),  # 02:45 CHAST forward to 03:45 CHADT
]


@pytest.mark.parametrize(("tz", "day"), DST_DAYS)
def test_results_stay_inside_the_local_window_around_dst(tz, day):
    windows = [(weekday, 0.5, 2.75) for weekday in range(7)] + [(weekday, 9, 17.25) for weekday in range(7)]
    schedule = SendSchedule(windows, tz=tz)
    start = D.combine(day, D.min.time()) - timedelta(days=1)
    for step in range(0, 3 * 24 * 60, 10):
        at = start + step * MINUTE
        result = schedule.next_slot(at)
        assert result >= at
        assert in_local_window(result, tz, windows), (at, result, to_local(result, tz))
        seeded = schedule.next_slot(at, seed=step)
        assert seeded >= at
        assert in_local_window(seeded, tz, windows), (at, seeded, to_local(seeded, tz))


# --- excluded periods ---------------------------------------------------------------------------------------------


def test_single_excluded_day_skips_to_next_day():
    schedule = SendSchedule(WORKDAYS_9_17, excluded=[(D(2026, 1, 14), D(2026, 1, 15))])
    assert schedule.next_slot(D(2026, 1, 14, 8, 0)) == D(2026, 1, 15, 9, 0)
    assert schedule.next_slot(D(2026, 1, 14, 12, 0)) == D(2026, 1, 15, 9, 0)
    assert not schedule.is_open(D(2026, 1, 14, 12, 0))


def test_excluded_range_over_weekend_goes_to_tuesday():
    # Fri Jan 16 00:00 .. Tue Jan 20 00:00 excludes Friday to Monday.
    schedule = SendSchedule(WORKDAYS_9_17, excluded=[(D(2026, 1, 16), D(2026, 1, 20))])
    assert schedule.next_slot(D(2026, 1, 16, 10, 0)) == D(2026, 1, 20, 9, 0)
    assert schedule.next_slot(D(2026, 1, 15, 17, 0)) == D(2026, 1, 20, 9, 0)


def test_excluded_period_ending_mid_window_resumes_at_its_end():
    schedule = SendSchedule(WORKDAYS_9_17, excluded=[(D(2026, 1, 14, 8, 0), D(2026, 1, 14, 11, 15))])
    assert schedule.next_slot(D(2026, 1, 14, 9, 0)) == D(2026, 1, 14, 11, 15)
    assert schedule.next_slot(D(2026, 1, 14, 6, 0)) == D(2026, 1, 14, 11, 15)
    assert not schedule.is_open(D(2026, 1, 14, 11, 14, 59))
    assert schedule.is_open(D(2026, 1, 14, 11, 15))


def test_excluded_period_in_the_middle_of_a_window():
    schedule = SendSchedule(WORKDAYS_9_17, excluded=[(D(2026, 1, 14, 12, 0), D(2026, 1, 14, 13, 0))])
    assert schedule.next_slot(D(2026, 1, 14, 11, 0)) == D(2026, 1, 14, 11, 0)
    assert schedule.next_slot(D(2026, 1, 14, 12, 0)) == D(2026, 1, 14, 13, 0)


def test_overlapping_and_adjacent_excluded_periods():
    excluded = [
        (D(2026, 1, 14, 11, 0), D(2026, 1, 14, 14, 0)),
        (D(2026, 1, 14, 10, 0), D(2026, 1, 14, 12, 0)),
        (D(2026, 1, 14, 14, 0), D(2026, 1, 14, 15, 0)),  # adjacent to the previous one
        (D(2026, 1, 14, 16, 0), D(2026, 1, 14, 16, 0)),  # empty, excludes nothing
    ]
    schedule = SendSchedule(WORKDAYS_9_17, excluded=excluded)
    assert schedule.excluded == ((D(2026, 1, 14, 10, 0), D(2026, 1, 14, 15, 0)),)
    # 10:00-15:00 is excluded as a whole.
    assert schedule.next_slot(D(2026, 1, 14, 10, 30)) == D(2026, 1, 14, 15, 0)
    assert not schedule.is_open(D(2026, 1, 14, 13, 0))
    assert schedule.is_open(D(2026, 1, 14, 16, 0))


def test_excluded_periods_may_be_aware():
    berlin = timezone(timedelta(hours=1))
    # Wed 09:00-12:00 in UTC+1 = 08:00-11:00 UTC.
    schedule = SendSchedule(
        WORKDAYS_9_17, excluded=[(D(2026, 1, 14, 9, tzinfo=berlin), D(2026, 1, 14, 12, tzinfo=berlin))]
    )
    assert schedule.next_slot(D(2026, 1, 14, 9, 0)) == D(2026, 1, 14, 11, 0)


def test_excluded_from_local_dates():
    # Berlin Wed Jan 14 = [Tue 23:00 UTC, Wed 23:00 UTC); the DST day Mar 29 is 23 hours long.
    assert excluded_from_local_dates([date(2026, 1, 14), date(2026, 3, 29)], "Europe/Berlin") == [
        (D(2026, 1, 13, 23, 0), D(2026, 1, 14, 23, 0)),
        (D(2026, 3, 28, 23, 0), D(2026, 3, 29, 22, 0)),
    ]
    schedule = SendSchedule(
        WORKDAYS_9_17, tz="Europe/Berlin", excluded=excluded_from_local_dates([date(2026, 1, 14)], "Europe/Berlin")
    )
    # Wed 07:00 UTC = 08:00 CET on the excluded day -> Thu 09:00 CET = 08:00 UTC.
    assert schedule.next_slot(D(2026, 1, 14, 7, 0)) == D(2026, 1, 15, 8, 0)
    with pytest.raises(ScheduleError, match="timezone"):
        excluded_from_local_dates([date(2026, 1, 14)], "Nowhere/City")


# --- errors -------------------------------------------------------------------------------------------------------


def test_no_window_raises_with_helpful_message():
    schedule = SendSchedule([])  # accepted at construction
    with pytest.raises(ScheduleError, match="send window") as raised:
        schedule.next_slot(D(2026, 1, 14))
    assert "Monday 09:00-17:00" in str(raised.value)


def test_everything_excluded_over_the_horizon_raises():
    schedule = SendSchedule(WORKDAYS_9_17, excluded=[(D(2025, 12, 1), D(2029, 1, 1))])
    with pytest.raises(ScheduleError, match="730 days"):
        schedule.next_slot(D(2026, 1, 14))


def test_horizon_counts_local_days_after_at():
    # Fri Jan 16 17:30 -> Mon Jan 19 is three local days later.
    assert SendSchedule(WORKDAYS_9_17, horizon_days=3).next_slot(D(2026, 1, 16, 17, 30)) == D(2026, 1, 19, 9, 0)
    with pytest.raises(ScheduleError, match="2 days"):
        SendSchedule(WORKDAYS_9_17, horizon_days=2).next_slot(D(2026, 1, 16, 17, 30))


def test_weekly_excluded_days_exhaust_a_short_horizon():
    # Only Mondays are windows and the next 10 Mondays are excluded: a 60-day horizon runs out.
    mondays = [date(2026, 1, 19) + timedelta(weeks=week) for week in range(10)]
    schedule = SendSchedule([(0, 9, 17)], excluded=excluded_from_local_dates(mondays, "UTC"), horizon_days=60)
    with pytest.raises(ScheduleError, match="excluded"):
        schedule.next_slot(D(2026, 1, 17))
    assert SendSchedule([(0, 9, 17)], excluded=schedule.excluded).next_slot(D(2026, 1, 17)) == D(2026, 3, 30, 9)


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ((7, 9, 17), "weekday"),
        ((-1, 9, 17), "weekday"),
        (("1", 9, 17), "weekday"),
        ((True, 9, 17), "weekday"),
        ((0, 17, 9), "does not end after it starts"),
        ((0, 9, 9), "does not end after it starts"),
        ((0, 9, 25), "after 24:00"),
        ((0, -1, 9), "negative"),
        ((0, float("nan"), 9), "invalid start hour"),
        ((0, 9, None), "invalid end hour"),
        ((0, 9), "tuple"),
        ("Monday 9-17", "tuple"),
    ],
)
def test_invalid_windows_raise(window, message):
    with pytest.raises(ScheduleError, match=message):
        SendSchedule([window])


def test_window_dataclass_validates_itself():
    with pytest.raises(ScheduleError, match="weekday"):
        Window(9, 9, 17)
    assert str(Window(0, 9.5, 24)) == "Monday 09:30-24:00"


def test_unknown_timezones_raise():
    with pytest.raises(ScheduleError, match="Unknown timezone 'Mars/Olympus_Mons'"):
        SendSchedule(WORKDAYS_9_17, tz="Mars/Olympus_Mons")
    schedule = SendSchedule(WORKDAYS_9_17)
    with pytest.raises(ScheduleError, match="contact"):
        schedule.next_slot(D(2026, 1, 14), tz="Not/AZone")
    with pytest.raises(ScheduleError, match="timezone"):
        schedule.is_open(D(2026, 1, 14), tz="../etc/passwd")


def test_invalid_excluded_periods_and_horizon_raise():
    with pytest.raises(ScheduleError, match="ends before it starts"):
        SendSchedule(WORKDAYS_9_17, excluded=[(D(2026, 1, 15), D(2026, 1, 14))])
    with pytest.raises(ScheduleError, match="pair"):
        SendSchedule(WORKDAYS_9_17, excluded=[(date(2026, 1, 14), date(2026, 1, 15))])
    with pytest.raises(ScheduleError, match="pair"):
        SendSchedule(WORKDAYS_9_17, excluded=[D(2026, 1, 14)])
    with pytest.raises(ScheduleError, match="horizon"):
        SendSchedule(WORKDAYS_9_17, horizon_days=0)


def test_schedule_errors_are_value_errors():
    assert issubclass(ScheduleError, ValueError)


# --- randomization ------------------------------------------------------------------------------------------------


def test_seeded_slot_is_reproducible():
    schedule = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    at = D(2026, 1, 14, 6, 0)
    assert schedule.next_slot(at, seed=42) == schedule.next_slot(at, seed=42)
    assert schedule.next_slot(at, seed="enrollment-7") == SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin").next_slot(
        at, seed="enrollment-7"
    )


def test_seeded_slot_is_the_same_in_another_process():
    # hash() of a str changes with PYTHONHASHSEED; the seeded slot must not.
    code = (
        "from datetime import datetime as D; from send_schedule import SendSchedule; "
        "print(SendSchedule([(2, 9, 17)], tz='Europe/Berlin').next_slot(D(2026, 1, 14, 6), seed='enrollment-7'))"
    )
    lib = str(Path(send_schedule.__file__).resolve().parent)
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONPATH": lib, "PYTHONHASHSEED": hash_seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for hash_seed in ("1", "2", "3")
    }
    expected = SendSchedule([(2, 9, 17)], tz="Europe/Berlin").next_slot(D(2026, 1, 14, 6), seed="enrollment-7")
    assert outputs == {str(expected)}


def test_different_seeds_spread_over_the_window():
    schedule = SendSchedule(WORKDAYS_9_17, tz="Europe/Berlin")
    at = D(2026, 1, 14, 6, 0)  # 07:00 CET; window Wed 09:00-17:00 CET = [08:00, 16:00) UTC
    results = [schedule.next_slot(at, seed=seed) for seed in range(50)]
    assert len(set(results)) > 40
    for result in results:
        assert D(2026, 1, 14, 8, 0) <= result < D(2026, 1, 14, 16, 0)
        assert result.microsecond == 0
        assert schedule.is_open(result)


def test_seeded_slot_respects_at_and_exclusions():
    excluded = [(D(2026, 1, 14, 12, 0), D(2026, 1, 14, 13, 0))]
    schedule = SendSchedule(WORKDAYS_9_17, excluded=excluded)
    at = D(2026, 1, 14, 10, 30, 0, 500)
    for seed in range(100):
        result = schedule.next_slot(at, seed=seed)
        # First allowed piece after at: [10:30:00.0005, 12:00); whole seconds from 10:30:01.
        assert D(2026, 1, 14, 10, 30, 1) <= result < D(2026, 1, 14, 12, 0)
        assert schedule.is_open(result)
    # Inside the excluded hour: the first allowed piece is [13:00, 17:00).
    for seed in range(100):
        result = schedule.next_slot(D(2026, 1, 14, 12, 15), seed=seed)
        assert D(2026, 1, 14, 13, 0) <= result < D(2026, 1, 14, 17, 0)


def test_seeded_slot_depends_on_the_window_date():
    schedule = SendSchedule(WORKDAYS_9_17)
    # Same seed, two different days: the offsets into the window are drawn independently.
    offsets = {
        schedule.next_slot(D(2026, 1, 12) + timedelta(days=day), seed="same")
        - (D(2026, 1, 12, 9) + timedelta(days=day))
        for day in range(5)
    }
    assert len(offsets) > 1


def test_seeded_slot_in_a_sub_second_piece():
    schedule = SendSchedule(WORKDAYS_9_17)
    at = D(2026, 1, 14, 16, 59, 59, 500_000)
    assert schedule.next_slot(at, seed=1) == at


# --- local day helpers --------------------------------------------------------------------------------------------


def test_day_bounds_on_23_and_25_hour_days():
    schedule = SendSchedule(WORKDAYS_9_17, tz="America/New_York")
    # Mar 8 starts 00:00 EST = 05:00 UTC and ends at Mar 9 00:00 EDT = 04:00 UTC: 23 hours.
    start, end = schedule.day_bounds(D(2026, 3, 8, 12, 0))
    assert (start, end) == (D(2026, 3, 8, 5, 0), D(2026, 3, 9, 4, 0))
    assert end - start == timedelta(hours=23)
    # Nov 1 starts 00:00 EDT = 04:00 UTC and ends at Nov 2 00:00 EST = 05:00 UTC: 25 hours.
    start, end = schedule.day_bounds(D(2026, 11, 1, 12, 0))
    assert (start, end) == (D(2026, 11, 1, 4, 0), D(2026, 11, 2, 5, 0))
    assert end - start == timedelta(hours=25)
    # Berlin: Mar 29 = [Mar 28 23:00, Mar 29 22:00) UTC, Oct 25 = [Oct 24 22:00, Oct 25 23:00) UTC.
    assert schedule.day_bounds(D(2026, 3, 29, 12), tz="Europe/Berlin") == (D(2026, 3, 28, 23), D(2026, 3, 29, 22))
    assert schedule.day_bounds(D(2026, 10, 25, 12), tz="Europe/Berlin") == (D(2026, 10, 24, 22), D(2026, 10, 25, 23))
    # Bounds are half-open: local midnight belongs to the day it starts.
    assert schedule.day_bounds(D(2026, 3, 9, 4, 0)) == (D(2026, 3, 9, 4, 0), D(2026, 3, 10, 4, 0))


def test_day_bounds_when_midnight_falls_in_the_gap():
    # Santiago (Chile) springs forward at midnight: Sep 6 2026 00:00 -04 becomes 01:00 -03 at 04:00 UTC.
    schedule = SendSchedule(WORKDAYS_9_17, tz="America/Santiago")
    assert schedule.day_bounds(D(2026, 9, 6, 12)) == (D(2026, 9, 6, 4), D(2026, 9, 7, 3))
    assert schedule.next_day_start(D(2026, 9, 5, 12)) == D(2026, 9, 6, 4)


def test_next_day_start():
    schedule = SendSchedule(WORKDAYS_9_17, tz="America/New_York")
    # Sat Mar 7 07:00 EST -> Sun Mar 8 00:00 EST = 05:00 UTC.
    assert schedule.next_day_start(D(2026, 3, 7, 12, 0)) == D(2026, 3, 8, 5, 0)
    # Sun Mar 8 -> Mon Mar 9 00:00 EDT = 04:00 UTC, 23 hours after the previous midnight.
    assert schedule.next_day_start(D(2026, 3, 8, 12, 0)) == D(2026, 3, 9, 4, 0)
    # Strictly after: at a local midnight the next one is returned.
    assert schedule.next_day_start(D(2026, 3, 8, 5, 0)) == D(2026, 3, 9, 4, 0)
    # Sun Nov 1 -> Mon Nov 2 00:00 EST = 05:00 UTC.
    assert schedule.next_day_start(D(2026, 11, 1, 4, 0)) == D(2026, 11, 2, 5, 0)
    # Contact timezone override: Tokyo midnight after Wed 06:00 UTC (15:00 JST) is Wed 15:00 UTC.
    assert schedule.next_day_start(D(2026, 1, 14, 6, 0), tz="Asia/Tokyo") == D(2026, 1, 14, 15, 0)
    # Daily cap use: push to tomorrow, then to the next send window.
    capped = schedule.next_slot(schedule.next_day_start(D(2026, 1, 14, 15, 0)))
    assert capped == D(2026, 1, 15, 14, 0)  # Thu 09:00 EST


# --- properties ---------------------------------------------------------------------------------------------------

TIMEZONES = ["UTC", "America/New_York", "Europe/Berlin", "Australia/Sydney", "Asia/Kolkata", "Pacific/Chatham"]
QUARTERS_PER_DAY = 96


@st.composite
def day_windows(draw, weekday):
    """One or two windows of a weekday, on quarter hours (which hit the Chatham 02:45 DST change too)."""
    bounds = sorted(draw(st.sets(st.integers(0, QUARTERS_PER_DAY), min_size=2, max_size=4)))
    if len(bounds) == 3:
        bounds = bounds[:2]
    return [(weekday, bounds[i] / 4, bounds[i + 1] / 4) for i in range(0, len(bounds), 2)]


@st.composite
def schedules(draw):
    weekdays = draw(st.sets(st.integers(0, 6), min_size=1, max_size=7))
    windows = [window for weekday in sorted(weekdays) for window in draw(day_windows(weekday))]
    excluded = draw(
        st.lists(
            st.tuples(
                st.datetimes(min_value=D(2024, 12, 25), max_value=D(2029, 1, 1)),
                st.integers(0, 10 * 24 * 60).map(lambda minutes: timedelta(minutes=minutes)),
            ).map(lambda pair: (pair[0], pair[0] + pair[1])),
            max_size=4,
        )
    )
    return windows, draw(st.sampled_from(TIMEZONES)), excluded


ATS = st.datetimes(min_value=D(2025, 1, 1), max_value=D(2028, 12, 31, 23, 59, 59))
SEEDS = st.one_of(st.none(), st.integers(), st.text(max_size=10))
OVERRIDES = st.one_of(st.none(), st.sampled_from(TIMEZONES))


@settings(max_examples=200, deadline=None)
@given(schedules(), ATS, SEEDS, OVERRIDES)
def test_property_next_slot_is_an_open_instant_at_or_after_at(schedule_args, at, seed, override):
    windows, tz, excluded = schedule_args
    schedule = SendSchedule(windows, tz=tz, excluded=excluded)
    local_tz = override or tz
    result = schedule.next_slot(at, tz=override, seed=seed)
    assert result >= at
    assert schedule.is_open(result, tz=override)
    assert in_local_window(result, local_tz, windows), (result, to_local(result, local_tz))
    assert not is_excluded(result, excluded)
    if seed is not None:
        assert schedule.next_slot(at, tz=override, seed=seed) == result
        return
    # Nothing earlier is open: sample every 15 minutes, and just before the result.
    probe = at
    while probe < result:
        assert not schedule.is_open(probe, tz=override), (probe, result)
        probe += timedelta(minutes=15)
    for before in (result - timedelta(seconds=1), result - timedelta(microseconds=1)):
        if before >= at:
            assert not schedule.is_open(before, tz=override)
    assert schedule.next_slot(result, tz=override) == result


@st.composite
def dst_cases(draw):
    """Every-day schedules and whole-minute `at` within two days of a DST change, with short exclusions."""
    tz, day = draw(st.sampled_from(DST_DAYS))
    windows = [window for weekday in range(7) for window in draw(day_windows(weekday))]
    around = D.combine(day, D.min.time())
    minutes = st.integers(-2 * 24 * 60, 2 * 24 * 60).map(lambda minute: around + minute * MINUTE)
    excluded = draw(
        st.lists(
            st.tuples(minutes, st.integers(0, 24 * 60)).map(lambda pair: (pair[0], pair[0] + pair[1] * MINUTE)),
            max_size=3,
        )
    )
    return windows, tz, excluded, draw(minutes)


@settings(max_examples=200, deadline=None)
@given(dst_cases())
def test_property_next_slot_matches_a_minute_scan_around_dst(case):
    windows, tz, excluded, at = case
    schedule = SendSchedule(windows, tz=tz, excluded=excluded)
    # Windows, exclusions, `at` and every DST change involved fall on whole minutes: scanning minute by minute
    # with an independent wall-clock check finds the exact answer.
    expected = at
    while not (in_local_window(expected, tz, windows) and not is_excluded(expected, excluded)):
        expected += MINUTE
    assert schedule.next_slot(at) == expected
    seeded = schedule.next_slot(at, seed=at.isoformat())
    assert seeded >= expected
    assert in_local_window(seeded, tz, windows)
    assert not is_excluded(seeded, excluded)


@settings(max_examples=200, deadline=None)
@given(schedules(), ATS, OVERRIDES)
def test_property_is_open_agrees_with_the_local_windows(schedule_args, at, override):
    windows, tz, excluded = schedule_args
    schedule = SendSchedule(windows, tz=tz, excluded=excluded)
    expected = in_local_window(at, override or tz, windows) and not is_excluded(at, excluded)
    assert schedule.is_open(at, tz=override) == expected
    if expected:
        assert schedule.next_slot(at, tz=override) == at


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(TIMEZONES), ATS)
def test_property_day_bounds_contain_at_and_start_at_local_midnight(tz, at):
    schedule = SendSchedule(WORKDAYS_9_17, tz=tz)
    start, end = schedule.day_bounds(at)
    assert start <= at < end
    assert timedelta(hours=22) <= end - start <= timedelta(hours=26)
    assert schedule.next_day_start(at) == end
    assert to_local(start, tz).date() == to_local(at, tz).date()
    assert to_local(end, tz).date() == to_local(at, tz).date() + timedelta(days=1)
    assert to_local(start, tz).time() == D.min.time()  # none of these zones has its midnight in a DST gap
    assert to_local(end - timedelta(microseconds=1), tz).date() == to_local(at, tz).date()
