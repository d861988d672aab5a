"""The mailbox's hourly and per-minute limits in the planner (lib/planner.py): over them a send moves to the next
clock hour or minute, never dropped; checked before the daily limit, as the cron does."""

from datetime import datetime, timedelta

import pytest
from planner import MOVED_BY_DAILY_LIMIT, MOVED_BY_HOURLY_LIMIT, MOVED_BY_MINUTE_LIMIT, PlanEnrollment, PlanStep, plan
from send_schedule import SendSchedule

MAILBOX = "rep@example.com"
MONDAY_9H = datetime(2026, 1, 19, 8, 0)  # 09:00 in Brussels
STEPS = [PlanStep(1, 0)]


def schedule():
    return SendSchedule([(weekday, 9, 17) for weekday in range(5)], tz="Europe/Brussels")


def due(count, mailbox=MAILBOX):
    return [PlanEnrollment(i, 0, MONDAY_9H, next_run_at=MONDAY_9H, mailbox=mailbox) for i in range(1, count + 1)]


def test_minute_limit_hands_out_one_minute_after_the_other():
    items = plan(due(25), STEPS, schedule(), now=MONDAY_9H, minute_limit=10)
    minutes = [item.at - MONDAY_9H for item in items]
    assert minutes == [timedelta(0)] * 10 + [timedelta(minutes=1)] * 10 + [timedelta(minutes=2)] * 5
    assert [item.enrollment_id for item in items] == list(range(1, 26)), "the lowest ids first"
    assert {item.moved_by for item in items[10:]} == {MOVED_BY_MINUTE_LIMIT}
    assert {item.moved_by for item in items[:10]} == {None}


def test_hourly_limit_moves_to_the_next_clock_hour_and_counts_what_was_sent():
    recent = {(MAILBOX, "hour", MONDAY_9H): 3}
    items = plan(due(5), STEPS, schedule(), now=MONDAY_9H, hourly_limit=4, recent_sent=recent)
    assert [item.at for item in items] == [MONDAY_9H] + [MONDAY_9H + timedelta(hours=1)] * 4
    assert {item.moved_by for item in items[1:]} == {MOVED_BY_HOURLY_LIMIT}


def test_limits_are_per_mailbox():
    enrollments = due(2) + [PlanEnrollment(3, 0, MONDAY_9H, next_run_at=MONDAY_9H, mailbox="other@example.com")]
    items = plan(enrollments, STEPS, schedule(), now=MONDAY_9H, minute_limit=1)
    assert {(item.enrollment_id, item.at) for item in items} == {
        (1, MONDAY_9H),
        (2, MONDAY_9H + timedelta(minutes=1)),
        (3, MONDAY_9H),
    }


def test_the_daily_limit_still_applies_after_the_hourly_one():
    items = plan(due(3), STEPS, schedule(), now=MONDAY_9H, hourly_limit=1, daily_limit=2)
    assert [item.at for item in items[:2]] == [MONDAY_9H, MONDAY_9H + timedelta(hours=1)]
    assert items[2].moved_by == MOVED_BY_DAILY_LIMIT
    assert items[2].at == datetime(2026, 1, 20, 8, 0)


def test_the_window_closing_moves_an_hour_limited_send_to_the_next_day():
    late = datetime(2026, 1, 19, 15, 30)  # 16:30 Brussels, the window closes at 17:00
    enrollments = [PlanEnrollment(i, 0, late, next_run_at=late, mailbox=MAILBOX) for i in (1, 2)]
    items = plan(enrollments, STEPS, schedule(), now=late, hourly_limit=1)
    assert [item.at for item in items] == [late, datetime(2026, 1, 20, 8, 0)]


def test_a_negative_rate_limit_is_refused():
    with pytest.raises(ValueError, match="per-minute limit"):
        plan(due(1), STEPS, schedule(), now=MONDAY_9H, minute_limit=-1)


def test_hour_and_minute_are_counted_apart_though_they_start_together():
    items = plan(due(8), STEPS, schedule(), now=MONDAY_9H, minute_limit=3, hourly_limit=5)
    assert [item.at - MONDAY_9H for item in items] == [timedelta(0)] * 3 + [timedelta(minutes=1)] * 2 + [
        timedelta(hours=1)
    ] * 3
