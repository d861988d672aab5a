"""Test helper: excluded periods from local calendar days. The addon's schedules take their excluded periods from
the calendar's leaves (absolute datetimes), so this lives with the tests, not in lib/send_schedule.py."""

from send_schedule import DAY, _local_day_start, _zone


def excluded_from_local_dates(dates, tz):
    """UTC (start, end) pairs covering whole local calendar days, for `excluded=` (e.g. public holidays).

    `tz` is an IANA timezone name; days shortened or lengthened by a DST change are covered exactly.
    """
    zone = _zone(tz, "the excluded dates")
    return [(_local_day_start(zone, day), _local_day_start(zone, day + DAY)) for day in dates]
