"""Tests of the pure-Python sequence planner (lib/planner.py): the forecast of every remaining step.

Run with: cd lib/tests && PYTHONPATH=.. python -m pytest -q -p no:cacheprovider --rootdir=. --confcutdir=. \
    test_planner.py

Reference dates (2026): Jan 16 is a Friday, Jan 19 a Monday (then Tue 20, Wed 21, Thu 22, Fri 23, Mon 26, Tue 27,
Wed 28). In January Europe/Brussels is UTC+1, so its 09:00-17:00 window is 08:00-16:00 UTC and its day starts at
23:00 UTC the evening before; America/New_York is UTC-5 (09:00-17:00 = 14:00-22:00 UTC).
"""

import heapq
import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_dates import excluded_from_local_dates
from planner import (
    MIN_STEP_GAP,
    MOVED_BY_DAILY_LIMIT,
    MOVED_BY_OWNER_LEAVE,
    MOVED_BY_USER_LIMIT,
    PlanEnrollment,
    PlannedStep,
    PlanStep,
    plan,
    slot_for_step,
)
from send_schedule import NO_WINDOW_MESSAGE, ScheduleError, SendSchedule

D = datetime
BRUSSELS = "Europe/Brussels"
NEW_YORK = "America/New_York"
WORKDAYS_9_17 = [(weekday, 9, 17) for weekday in range(5)]
MAILBOX = "rep@example.com"
FRIDAY_18H_LOCAL = D(2026, 1, 16, 17, 0)
MONDAY_9H_LOCAL = D(2026, 1, 19, 8, 0)


def brussels(excluded=()):
    return SendSchedule(WORKDAYS_9_17, tz=BRUSSELS, excluded=excluded)


def day(n, hour=8, minute=0):
    """January 2026, day `n`, as naive UTC."""
    return D(2026, 1, n, hour, minute)


def dates(items):
    return [(item.enrollment_id, item.step_index, item.at) for item in items]


def due_monday(count, **values):
    """`count` enrollments (ids 1..count) whose first step is stored for Monday 09:00 Brussels."""
    return [
        PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=MAILBOX, **values)
        for i in range(1, count + 1)
    ]


def local_date(instant, tz):
    return instant.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).date()


# --- slot_for_step ----------------------------------------------------------------------------------------------


def test_min_step_gap_is_five_minutes():
    assert timedelta(minutes=5) == MIN_STEP_GAP


def test_delayed_step_goes_at_the_first_slot_once_the_delay_is_over():
    schedule = brussels()
    # Mon 10:00 UTC + 2 days = Wed 10:00 UTC (11:00 Brussels), open.
    assert slot_for_step(schedule, 2, day(19, 10), True, False, None, 7) == day(21, 10)
    # + 5 days = Sat: the next window opens Mon 26 09:00 Brussels.
    assert slot_for_step(schedule, 5, day(19, 10), True, False, None, 7) == day(26)
    # follows_send only matters without delay.
    assert slot_for_step(schedule, 2, day(19, 10), False, False, None, 7) == day(21, 10)


def test_step_without_delay_waits_the_gap_only_after_a_send():
    schedule = brussels()
    assert slot_for_step(schedule, 0, day(19, 10), True, False, None, 7) == day(19, 10, 5)
    assert slot_for_step(schedule, 0, day(19, 10), False, False, None, 7) == day(19, 10)
    # 15:58 UTC = 16:58 Brussels: five minutes later the window has closed -> Tuesday 09:00 Brussels.
    assert slot_for_step(schedule, 0, day(19, 15, 58), True, False, None, 7) == day(20)
    assert slot_for_step(schedule, 0, day(19, 15, 58), False, False, None, 7) == day(19, 15, 58)
    # Enrolled Friday 18:00 Brussels: Monday 09:00 Brussels.
    assert slot_for_step(schedule, 0, FRIDAY_18H_LOCAL, False, False, None, 7) == MONDAY_9H_LOCAL


def test_randomized_delayed_step_goes_at_a_random_moment_of_the_day_the_delay_lands_on():
    schedule = brussels()
    slot = slot_for_step(schedule, 2, day(19, 15, 30), True, True, None, 7)
    # The draw is the one of Wednesday's window from the start of Wednesday in Brussels (Tue 23:00 UTC) ...
    assert slot == schedule.next_slot(day(20, 23), seed=7)
    assert day(21, 8) <= slot < day(21, 16)
    # ... whatever the time of day of the previous send ...
    assert slot_for_step(schedule, 2, day(19, 8), True, True, None, 7) == slot
    # ... and another enrollment (seed) draws another moment.
    others = {slot_for_step(schedule, 2, day(19, 8), True, True, None, seed) for seed in range(20)}
    assert len(others) > 1
    assert all(day(21, 8) <= other < day(21, 16) for other in others)


def test_randomized_step_without_delay_goes_at_once_when_open_else_at_random_in_the_next_window():
    schedule = brussels()
    assert slot_for_step(schedule, 0, day(19, 10), True, True, None, 7) == day(19, 10, 5)
    assert slot_for_step(schedule, 0, day(19, 10), False, True, None, 7) == day(19, 10)
    slot = slot_for_step(schedule, 0, FRIDAY_18H_LOCAL, False, True, None, 7)
    assert slot == schedule.next_slot(FRIDAY_18H_LOCAL, seed=7)
    assert day(19, 8) <= slot < day(19, 16)


def test_slot_for_step_reads_the_windows_in_the_contact_timezone():
    schedule = brussels()
    # Mon 10:00 UTC is 05:00 in New York: the contact's window opens at 09:00 there, 14:00 UTC.
    assert slot_for_step(schedule, 0, day(19, 10), False, False, NEW_YORK, 7) == day(19, 14)
    assert slot_for_step(schedule, 0, day(19, 10), False, False, None, 7) == day(19, 10)
    # Randomized, one day after Mon 20:00 UTC: Tue 20:00 UTC is Tue 15:00 in New York, so the draw is in New York's
    # Tuesday window, 14:00-22:00 UTC, starting from New York's Tuesday 00:00 (05:00 UTC).
    slot = slot_for_step(schedule, 1, day(19, 20), True, True, NEW_YORK, 7)
    assert slot == schedule.next_slot(day(20, 5), tz=NEW_YORK, seed=7)
    assert day(20, 14) <= slot < day(20, 22)


def test_slot_for_step_raises_schedule_error_without_windows():
    with pytest.raises(ScheduleError):
        slot_for_step(SendSchedule([]), 1, day(19), True, False, None, 7)


# --- plan: timing ------------------------------------------------------------------------------------------------

THREE_STEPS = [PlanStep(11, 0), PlanStep(12, 2), PlanStep(13, 1)]


def test_three_steps_of_one_enrollment():
    enrollment = PlanEnrollment(1, 0, FRIDAY_18H_LOCAL)
    planned = plan([enrollment], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL)
    assert planned == [
        # Enrolled Friday 18:00 Brussels: step 1 Monday 09:00 Brussels (08:00 UTC) ...
        PlannedStep(1, 11, 0, day(19)),
        # ... step 2 two days after it, Wednesday 08:00 UTC, step 3 one day after that.
        PlannedStep(1, 12, 1, day(21)),
        PlannedStep(1, 13, 2, day(22)),
    ]


def test_plan_starts_at_the_enrollment_step_after_its_last_send():
    enrollment = PlanEnrollment(1, 1, day(19, 15, 30), follows_send=True)
    planned = plan([enrollment], THREE_STEPS, brussels(), now=day(19, 16))
    assert dates(planned) == [(1, 1, day(21, 15, 30)), (1, 2, day(22, 15, 30))]


def test_steps_without_delay_follow_five_minutes_apart_until_the_window_closes():
    steps = [PlanStep(1, 0), PlanStep(2, 0), PlanStep(3, 0)]
    enrollment = PlanEnrollment(1, 0, day(19, 15, 50))  # 16:50 Brussels
    planned = plan([enrollment], steps, brussels(), now=day(19, 15, 50))
    # 16:00 UTC = 17:00 Brussels is the end of the window: the third step waits for Tuesday.
    assert dates(planned) == [(1, 0, day(19, 15, 50)), (1, 1, day(19, 15, 55)), (1, 2, day(20))]


def test_stored_slot_is_kept_and_a_past_one_means_the_first_slot_from_now():
    now = day(19, 10)
    enrollments = [
        # Stored for Tuesday: kept as is, although the timing rule would say Monday.
        PlanEnrollment(1, 0, FRIDAY_18H_LOCAL, next_run_at=day(20, 9, 17)),
        # Stored for last Friday: overdue, goes at the first slot from now.
        PlanEnrollment(2, 0, FRIDAY_18H_LOCAL, next_run_at=day(16, 9)),
        # Not stored, and the timing rule gives a moment already past: same.
        PlanEnrollment(3, 0, day(12, 9)),
    ]
    planned = plan(enrollments, THREE_STEPS[:1], brussels(), now=now)
    assert dates(planned) == [(2, 0, now), (3, 0, now), (1, 0, day(20, 9, 17))]


def test_overdue_randomized_step_draws_its_slot_from_now():
    now = day(19, 10)
    enrollment = PlanEnrollment(5, 0, FRIDAY_18H_LOCAL, next_run_at=day(16, 9))
    (item,) = plan([enrollment], THREE_STEPS[:1], brussels(), now=now, randomize=True)
    assert item.at == brussels().next_slot(now, seed=5)


def test_plan_skips_excluded_dates():
    excluded = excluded_from_local_dates([date(2026, 1, 21)], BRUSSELS)
    planned = plan([PlanEnrollment(1, 0, FRIDAY_18H_LOCAL)], THREE_STEPS, brussels(excluded), now=FRIDAY_18H_LOCAL)
    # Wednesday is a holiday: step 2 goes on Thursday, and step 3 one day after the day it really went.
    assert dates(planned) == [(1, 0, day(19)), (1, 1, day(22)), (1, 2, day(23))]
    assert all(item.moved_by is None for item in planned)


def test_plan_reads_windows_in_the_contact_timezone():
    # Enrolled Friday 22:30 UTC, 17:30 in New York: the contact's windows are 14:00-22:00 UTC.
    enrollment = PlanEnrollment(1, 0, day(16, 22, 30), tz=NEW_YORK)
    planned = plan([enrollment], THREE_STEPS, brussels(), now=day(16, 22, 30))
    assert dates(planned) == [(1, 0, day(19, 14)), (1, 1, day(21, 14)), (1, 2, day(22, 14))]


def test_finished_enrollment_has_nothing_left():
    assert plan([PlanEnrollment(1, 3, FRIDAY_18H_LOCAL)], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL) == []
    assert plan([PlanEnrollment(1, 0, FRIDAY_18H_LOCAL)], [], brussels(), now=FRIDAY_18H_LOCAL) == []


# --- plan: daily limit ----------------------------------------------------------------------------------------


def test_daily_limit_spreads_sends_over_the_following_days_and_shifts_their_next_steps():
    steps = [PlanStep(1, 0), PlanStep(2, 7)]
    planned = plan(due_monday(5), steps, brussels(), now=day(19, 7), daily_limit=2)
    assert [(item.enrollment_id, item.step_index, item.at, item.moved_by) for item in planned] == [
        (1, 0, day(19), None),
        (2, 0, day(19), None),
        (3, 0, day(20), MOVED_BY_DAILY_LIMIT),
        (4, 0, day(20), MOVED_BY_DAILY_LIMIT),
        (5, 0, day(21), MOVED_BY_DAILY_LIMIT),
        # A week after the day each first email really went.
        (1, 1, day(26), None),
        (2, 1, day(26), None),
        (3, 1, day(27), None),
        (4, 1, day(27), None),
        (5, 1, day(28), None),
    ]


def test_daily_limit_goes_to_the_earliest_slots_then_the_lowest_enrollment_ids():
    steps = [PlanStep(1, 0), PlanStep(2, 1)]
    planned = plan(due_monday(5), steps, brussels(), now=day(19, 7), daily_limit=2)
    # Tuesday 08:00: the second steps of 1 and 2 and the queued first steps of 3, 4, 5 are due at the same slot;
    # the lowest enrollment ids win, as in the cron, so 5 keeps waiting until Friday.
    assert dates(planned) == [
        (1, 0, day(19)),
        (2, 0, day(19)),
        (1, 1, day(20)),
        (2, 1, day(20)),
        (3, 0, day(21)),
        (4, 0, day(21)),
        (3, 1, day(22)),
        (4, 1, day(22)),
        (5, 0, day(23)),
        (5, 1, day(26)),  # Friday + 1 day is a Saturday
    ]


def test_sends_queued_together_each_name_their_own_last_move():
    steps = [PlanStep(1, 0)]
    enrollments = [
        *due_monday(2),
        # Stored for Monday 10:00, during a leave that ends when Tuesday's window opens.
        PlanEnrollment(3, 0, FRIDAY_18H_LOCAL, next_run_at=day(19, 10), mailbox=MAILBOX),
        *(PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=MAILBOX) for i in (4, 5)),
    ]
    leaves = [(day(19, 9), day(20, 8))]
    planned = plan(enrollments, steps, brussels(), now=day(19, 7), daily_limit=2, leaves=leaves)
    # 4 and 5 are queued to Tuesday 08:00 by the limit, 3 is held there by the leave: they go in id order.
    assert [(item.enrollment_id, item.at, item.moved_by) for item in planned] == [
        (1, day(19), None),
        (2, day(19), None),
        (3, day(20), MOVED_BY_OWNER_LEAVE),
        (4, day(20), MOVED_BY_DAILY_LIMIT),
        (5, day(21), MOVED_BY_DAILY_LIMIT),
    ]


def test_sends_queued_one_after_the_other_to_the_same_slot_keep_the_id_order():
    enrollments = [
        PlanEnrollment(1, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=MAILBOX),
        PlanEnrollment(2, 0, FRIDAY_18H_LOCAL, next_run_at=day(20), mailbox=MAILBOX),
        *(PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=MAILBOX) for i in (5, 6)),
    ]
    already_sent = {(MAILBOX, day(19, 23)): 1}  # Tuesday is full already
    planned = plan(enrollments, [PlanStep(1, 0)], brussels(), now=day(19, 7), daily_limit=1, already_sent=already_sent)
    # Tuesday 08:00: 2 is queued to Wednesday first, then 5 and 6 (queued from Monday) join it there.
    assert dates(planned) == [(1, 0, day(19)), (2, 0, day(21)), (5, 0, day(22)), (6, 0, day(23))]


def test_daily_limit_is_counted_per_mailbox():
    enrollments = [
        PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=mailbox)
        for i, mailbox in ((1, "a"), (2, "b"), (3, "a"), (4, "b"))
    ]
    planned = plan(enrollments, [PlanStep(1, 0)], brussels(), now=day(19, 7), daily_limit=1)
    assert dates(planned) == [(1, 0, day(19)), (2, 0, day(19)), (3, 0, day(20)), (4, 0, day(20))]


def test_user_limit_counts_every_mailbox_of_the_owner():
    enrollments = [
        PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=mailbox)
        for i, mailbox in ((1, "a"), (2, "b"), (3, "a"), (4, "b"))
    ]
    planned = plan(enrollments, [PlanStep(1, 0)], brussels(), now=day(19, 7), user_limit=2)
    assert [(item.enrollment_id, item.at, item.moved_by) for item in planned] == [
        (1, day(19), None),
        (2, day(19), None),
        (3, day(20), MOVED_BY_USER_LIMIT),
        (4, day(20), MOVED_BY_USER_LIMIT),
    ]


def test_user_limit_starts_from_what_the_owner_already_sent_and_comes_after_the_mailbox_limit():
    enrollments = [
        PlanEnrollment(i, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=mailbox)
        for i, mailbox in ((1, "a"), (2, "a"), (3, "b"))
    ]
    monday = day(18, 23)  # the start of Monday in Brussels, as naive UTC
    planned = plan(
        enrollments,
        [PlanStep(1, 0)],
        brussels(),
        now=day(19, 7),
        daily_limit=1,
        user_limit=2,
        user_already_sent={monday: 1},
    )
    # Monday: 1 takes the owner's last email; 2 is over its mailbox's limit first, 3 over the owner's.
    assert [(item.enrollment_id, item.at, item.moved_by) for item in planned] == [
        (1, day(19), None),
        (2, day(20), MOVED_BY_DAILY_LIMIT),
        (3, day(20), MOVED_BY_USER_LIMIT),
    ]


def test_user_limit_must_be_a_whole_number():
    with pytest.raises(ValueError, match="user limit"):
        plan([], [PlanStep(1, 0)], brussels(), now=day(19, 7), user_limit=-1)


def test_daily_limit_counts_days_of_the_schedule_and_queues_in_the_contact_timezone():
    enrollments = [
        PlanEnrollment(1, 0, FRIDAY_18H_LOCAL, next_run_at=MONDAY_9H_LOCAL, mailbox=MAILBOX),
        # 16:30 in New York but 22:30 in Brussels: still the schedule's Monday, already full.
        PlanEnrollment(2, 0, FRIDAY_18H_LOCAL, next_run_at=day(19, 21, 30), tz=NEW_YORK, mailbox=MAILBOX),
    ]
    planned = plan(enrollments, [PlanStep(1, 0)], brussels(), now=day(19, 7), daily_limit=1)
    # Queued from the start of Tuesday in Brussels (Mon 23:00 UTC) to the contact's window: Tue 09:00 New York.
    assert dates(planned) == [(1, 0, day(19)), (2, 0, day(20, 14))]


def test_daily_limit_day_when_a_clock_turns_back_across_midnight():
    # St. John's fell back at 00:01 on Sunday Nov 7 2010, to Saturday 23:01: Saturday 23:30 happened twice, both
    # times in the schedule's Saturday, and the next day start after the second one is Monday's (the cron's rule).
    schedule = SendSchedule([(5, 23, 24)], tz="America/St_Johns")
    first, second = D(2010, 11, 7, 2, 0), D(2010, 11, 7, 3, 0)
    enrollments = [
        PlanEnrollment(1, 0, D(2010, 11, 1), next_run_at=first, mailbox=MAILBOX),
        PlanEnrollment(2, 0, D(2010, 11, 1), next_run_at=second, mailbox=MAILBOX),
    ]
    planned = plan(enrollments, [PlanStep(1, 0)], schedule, now=D(2010, 11, 6), daily_limit=1)
    # The next Saturday 23:00 NST.
    assert dates(planned) == [(1, 0, first), (2, 0, D(2010, 11, 14, 2, 30))]


def test_already_sent_emails_take_their_share_of_the_limit():
    already_sent = {(MAILBOX, day(18, 23)): 1, ("other@example.com", day(18, 23)): 2}
    enrollments = due_monday(3)
    planned = plan(enrollments, [PlanStep(1, 0)], brussels(), now=day(19, 7), daily_limit=2, already_sent=already_sent)
    assert dates(planned) == [(1, 0, day(19)), (2, 0, day(20)), (3, 0, day(20))]


def test_only_emails_count_against_the_daily_limit():
    steps = [PlanStep(1, 0, kind="task"), PlanStep(2, 1), PlanStep(3, 1, kind="call")]
    planned = plan(due_monday(3), steps, brussels(), now=day(19, 7), daily_limit=1)
    assert [(item.enrollment_id, item.step_index, item.at, item.moved_by) for item in planned] == [
        # Tasks are not limited: all on Monday.
        (1, 0, day(19), None),
        (2, 0, day(19), None),
        (3, 0, day(19), None),
        # One email a day.
        (1, 1, day(20), None),
        (1, 2, day(21), None),
        (2, 1, day(21), MOVED_BY_DAILY_LIMIT),
        # The calls follow their email a day later, side by side with the emails of that day.
        (2, 2, day(22), None),
        (3, 1, day(22), MOVED_BY_DAILY_LIMIT),
        (3, 2, day(23), None),
    ]


def test_randomized_sends_over_the_limit_draw_a_moment_of_the_next_day():
    schedule = brussels()
    planned = plan(due_monday(3), [PlanStep(1, 0)], schedule, now=day(19, 7), randomize=True, daily_limit=1)
    at = {item.enrollment_id: item.at for item in planned}
    assert at[1] == MONDAY_9H_LOCAL
    # The earlier of the two Tuesday draws takes Tuesday's only email; the other goes on Wednesday.
    draws = {enrollment_id: schedule.next_slot(day(19, 23), seed=enrollment_id) for enrollment_id in (2, 3)}
    first, second = sorted(draws, key=lambda enrollment_id: (draws[enrollment_id], enrollment_id))
    assert at[first] == draws[first]
    assert at[second] == schedule.next_slot(day(20, 23), seed=second)


# --- plan: owner on leave -------------------------------------------------------------------------------------


def test_owner_leave_holds_sends_until_the_first_slot_after_it():
    steps = [PlanStep(1, 0), PlanStep(2, 1, kind="task")]
    leaves = [(day(19, 0), day(21, 0))]
    planned = plan(due_monday(1), steps, brussels(), now=day(19, 7), leaves=leaves)
    assert [(item.step_index, item.at, item.moved_by) for item in planned] == [
        (0, day(21), MOVED_BY_OWNER_LEAVE),
        (1, day(22), None),
    ]


def test_owner_leave_holds_every_kind_of_step():
    steps = [PlanStep(1, 0, kind="task"), PlanStep(2, 0, kind="sms")]
    leaves = [(day(19, 8, 3), day(19, 12))]
    planned = plan(due_monday(1), steps, brussels(), now=day(19, 7), leaves=leaves)
    assert [(item.step_index, item.at, item.moved_by) for item in planned] == [
        (0, day(19), None),
        (1, day(19, 12), MOVED_BY_OWNER_LEAVE),
    ]


def test_send_moved_into_another_leave_is_held_again():
    leaves = [(day(19, 0), day(19, 20)), (day(20, 6), day(20, 10))]
    planned = plan(due_monday(1), [PlanStep(1, 0)], brussels(), now=day(19, 7), leaves=leaves)
    # Monday's leave ends at 20:00, the next slot (Tue 08:00) is in Tuesday's: held until 10:00.
    assert dates(planned) == [(1, 0, day(20, 10))]


def test_send_held_by_leave_and_limit_names_the_last_move():
    leaves = [(day(20, 0), day(21, 0))]
    planned = plan(due_monday(2), [PlanStep(1, 0)], brussels(), now=day(19, 7), daily_limit=1, leaves=leaves)
    # 2 is queued to Tuesday by the limit, then held to Wednesday by the leave.
    assert [(item.enrollment_id, item.at, item.moved_by) for item in planned] == [
        (1, day(19), None),
        (2, day(21), MOVED_BY_OWNER_LEAVE),
    ]


# --- plan: problems, order, limits ---------------------------------------------------------------------------


def test_schedule_without_windows_gives_a_problem_per_enrollment():
    # Even a step with a stored slot: the cron blocks it when the schedule has no slot at all.
    enrollments = [*due_monday(1), PlanEnrollment(2, 1, FRIDAY_18H_LOCAL), PlanEnrollment(3, 3, FRIDAY_18H_LOCAL)]
    planned = plan(enrollments, THREE_STEPS, SendSchedule([]), now=day(19, 7))
    assert planned == [
        PlannedStep(1, 11, 0, None, problem=NO_WINDOW_MESSAGE),
        PlannedStep(2, 12, 1, None, problem=NO_WINDOW_MESSAGE),
    ]


def test_schedule_error_ends_the_enrollment_plan():
    # Everything from Tuesday on is excluded for years: step 2 finds no slot within the horizon, step 3 is not planned.
    schedule = brussels(excluded=[(day(20, 0), D(2030, 1, 1))])
    enrollments = [PlanEnrollment(1, 0, FRIDAY_18H_LOCAL), PlanEnrollment(2, 0, FRIDAY_18H_LOCAL, tz="Mars/Olympus")]
    planned = plan(enrollments, THREE_STEPS, schedule, now=FRIDAY_18H_LOCAL)
    assert dates(planned) == [(1, 0, day(19)), (1, 1, None), (2, 0, None)]
    assert planned[0].problem is None
    assert "730 days" in planned[1].problem
    assert "Mars/Olympus" in planned[2].problem


def test_schedule_error_when_queued_over_the_limit_names_the_move():
    schedule = brussels(excluded=[(day(19, 12), D(2030, 1, 1))])
    planned = plan(due_monday(2), [PlanStep(1, 0)], schedule, now=day(19, 7), daily_limit=1)
    assert [(item.enrollment_id, item.at, item.moved_by) for item in planned] == [
        (1, day(19), None),
        (2, None, MOVED_BY_DAILY_LIMIT),
    ]
    assert "730 days" in planned[1].problem


def test_max_items_keeps_the_earliest_sends():
    planned = plan(due_monday(5), THREE_STEPS, brussels(), now=day(19, 7), max_items=7)
    assert dates(planned) == [(i, 0, day(19)) for i in range(1, 6)] + [(1, 1, day(21)), (2, 1, day(21))]


def test_plan_rejects_bad_input():
    enrollment = PlanEnrollment(1, 0, FRIDAY_18H_LOCAL)
    with pytest.raises(ValueError, match="unique"):
        plan([enrollment, enrollment], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL)
    with pytest.raises(ValueError, match="negative step index"):
        plan([PlanEnrollment(1, -1, FRIDAY_18H_LOCAL)], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="daily limit"):
            plan([enrollment], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL, daily_limit=bad)
    with pytest.raises(ValueError, match="maximum number of items"):
        plan([enrollment], THREE_STEPS, brussels(), now=FRIDAY_18H_LOCAL, max_items=-1)


def test_plan_values_are_frozen():
    (item,) = plan([PlanEnrollment(1, 0, FRIDAY_18H_LOCAL)], THREE_STEPS[:1], brussels(), now=FRIDAY_18H_LOCAL)
    with pytest.raises(AttributeError):
        item.at = None


# --- properties -------------------------------------------------------------------------------------------------

START = D(2026, 3, 20, 6, 0)  # a Friday, before the Brussels and after the New York spring-forward
CONTACT_TIMEZONES = (None, NEW_YORK, "Asia/Tokyo")
SCHEDULES = (
    brussels(),
    SendSchedule([(0, 10, 12), (0, 14, 15), (2, 10, 12), (4, 8, 9.5)], tz="UTC"),
    SendSchedule([(weekday, 8, 20) for weekday in range(7)], tz="America/Santiago"),  # DST ends Apr 5 at midnight
    brussels(excluded=excluded_from_local_dates([date(2026, 3, 23), date(2026, 3, 30)], BRUSSELS)),
    # Closed for years after 9 days: late steps and queued sends find no slot.
    brussels(excluded=[(START + timedelta(days=9), START + timedelta(days=4 * 365))]),
)
minutes = st.integers(min_value=0, max_value=14 * 24 * 60).map(lambda m: START + timedelta(minutes=m))
# Stored slots many enrollments share, so that sends queue together and their groups merge.
shared_slots = st.sampled_from((START + timedelta(hours=2), D(2026, 3, 23, 8), D(2026, 3, 23, 14)))


@st.composite
def cases(draw, stored_slots=True):
    """A small sequence with its enrollments and the cron's settings, dense enough for the limit and leaves to bite."""
    steps = [
        PlanStep(100 + index, draw(st.integers(0, 4)), draw(st.sampled_from(("email", "email", "task", "call"))))
        for index in range(draw(st.integers(1, 4)))
    ]
    ids = draw(st.lists(st.integers(1, 60), min_size=1, max_size=20, unique=True))
    enrollments = []
    for enrollment_id in ids:
        after = draw(minutes) - timedelta(days=3)
        next_run_at = draw(st.one_of(st.none(), minutes, shared_slots)) if stored_slots else None
        enrollments.append(
            PlanEnrollment(
                enrollment_id,
                draw(st.integers(0, len(steps))),
                after,
                follows_send=draw(st.booleans()),
                next_run_at=next_run_at,
                tz=draw(st.sampled_from((*CONTACT_TIMEZONES, None, None, "Mars/Olympus"))),
                mailbox=draw(st.sampled_from(("a", "b"))),
            )
        )
    starts = draw(st.lists(minutes, max_size=3))
    leaves = [(start, start + timedelta(hours=draw(st.integers(0, 72)))) for start in starts]
    return {
        "enrollments": enrollments,
        "steps": steps,
        "schedule": draw(st.sampled_from(SCHEDULES)),
        "now": START,
        "randomize": draw(st.booleans()),
        "daily_limit": draw(st.integers(0, 3)),
        "leaves": leaves,
    }


def reference_plan(enrollments, steps, schedule, *, now, randomize, daily_limit, leaves, already_sent=None):
    """The cron's rules replayed naively, one send at a time: no groups, no caches, leaves read as the cron reads
    them (held until the latest end of the leaves under way)."""
    by_id = {enrollment.id: enrollment for enrollment in enrollments}
    sent = dict(already_sent or {})
    planned, heap = [], []

    def queue(enrollment, index, moved_by, slot_of, *args):
        """Queue the send at slot_of(*args), or end the enrollment's plan with the schedule's error."""
        try:
            heapq.heappush(heap, (slot_of(*args), enrollment.id, index, moved_by))
        except ScheduleError as error:
            step_id = steps[index].id
            planned.append(PlannedStep(enrollment.id, step_id, index, None, moved_by=moved_by, problem=str(error)))

    def first_slot(enrollment):
        schedule.next_slot(now)  # the cron blocks every step of a schedule without any slot
        slot = enrollment.next_run_at or slot_for_step(
            schedule, steps[enrollment.step_index].delay_days, enrollment.after, enrollment.follows_send, randomize,
            enrollment.tz, enrollment.id,
        )  # fmt: skip
        return slot if slot >= now else moved_slot(enrollment, now)

    def moved_slot(enrollment, not_before):
        return schedule.next_slot(not_before, tz=enrollment.tz, seed=enrollment.id if randomize else None)

    for enrollment in enrollments:
        if enrollment.step_index < len(steps):
            queue(enrollment, enrollment.step_index, None, first_slot, enrollment)
    while heap:
        at, enrollment_id, index, moved_by = heapq.heappop(heap)
        enrollment = by_id[enrollment_id]
        ends = [end for start, end in leaves if start <= at < end]
        counter = (enrollment.mailbox, schedule.day_bounds(at)[0])
        limited = daily_limit and steps[index].kind == "email"
        if ends:
            queue(enrollment, index, MOVED_BY_OWNER_LEAVE, moved_slot, enrollment, max(ends))
        elif limited and sent.get(counter, 0) >= daily_limit:
            queue(enrollment, index, MOVED_BY_DAILY_LIMIT, moved_slot, enrollment, schedule.next_day_start(at))
        else:
            if limited:
                sent[counter] = sent.get(counter, 0) + 1
            planned.append(PlannedStep(enrollment_id, steps[index].id, index, at, moved_by=moved_by))
            if index + 1 < len(steps):
                args = (schedule, steps[index + 1].delay_days, at, True, randomize, enrollment.tz, enrollment.id)
                queue(enrollment, index + 1, None, slot_for_step, *args)
    return sorted(planned, key=lambda item: (item.at is None, item.at or D.min, item.enrollment_id, item.step_index))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_plan_matches_the_cron_rules_replayed_one_send_at_a_time(case):
    assert plan(**case) == reference_plan(**case)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(), st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_the_order_of_the_enrollments(case, rng):
    shuffled = dict(case, enrollments=rng.sample(case["enrollments"], len(case["enrollments"])))
    assert plan(**shuffled) == plan(**case)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases(stored_slots=False))
def test_planned_sends_are_open_in_order_and_within_the_limit(case):
    schedule, steps, daily_limit = case["schedule"], case["steps"], case["daily_limit"]
    enrollments = {enrollment.id: enrollment for enrollment in case["enrollments"]}
    planned = plan(**case)
    dated = [item for item in planned if item.at is not None]
    assert planned == dated + [item for item in planned if item.at is None]
    emails_per_day = {}
    for item in dated:
        enrollment = enrollments[item.enrollment_id]
        assert item.at >= case["now"]
        assert schedule.is_open(item.at, tz=enrollment.tz)
        assert not any(start <= item.at < end for start, end in case["leaves"])
        if steps[item.step_index].kind == "email":
            counter = (enrollment.mailbox, schedule.day_bounds(item.at)[0])
            emails_per_day[counter] = emails_per_day.get(counter, 0) + 1
    if daily_limit:
        assert max(emails_per_day.values(), default=0) <= daily_limit
    for enrollment in enrollments.values():
        items = [item for item in planned if item.enrollment_id == enrollment.id]
        # Every remaining step once, in order, until a problem (if any) ends the plan.
        first = enrollment.step_index
        assert [item.step_index for item in items] == list(range(first, first + len(items)))
        assert all(item.at is not None for item in items[:-1])
        if items and items[-1].at is not None:
            assert len(items) == len(steps) - enrollment.step_index
        sends = [item for item in items if item.at is not None]
        for previous, following in zip(sends, sends[1:], strict=False):
            delay = timedelta(days=steps[following.step_index].delay_days)
            if case["randomize"] and delay:
                # A random moment of the day the delay lands on, or later.
                tz = enrollment.tz or schedule.tz
                assert local_date(following.at, tz) >= local_date(previous.at + delay, tz)
                assert following.at >= previous.at
            else:
                assert following.at - previous.at >= (delay or MIN_STEP_GAP)


# --- performance ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("randomize", "mailboxes", "daily_limit"),
    # One mailbox for all: a backlog of years, which moves as groups; randomized: every send draws its own slot.
    [(False, 1, 50), (True, 20, 200)],
)
def test_ten_thousand_enrollments_of_five_steps(randomize, mailboxes, daily_limit):
    rng = random.Random(42)
    steps = [PlanStep(index, delay) for index, delay in enumerate((0, 2, 3, 0, 5))]
    enrollments = [
        PlanEnrollment(
            enrollment_id,
            0,
            FRIDAY_18H_LOCAL - timedelta(minutes=rng.randrange(3000)),
            tz=CONTACT_TIMEZONES[enrollment_id % 3],
            mailbox=f"rep{enrollment_id % mailboxes}@example.com",
        )
        for enrollment_id in range(1, 10001)
    ]
    planned = plan(enrollments, steps, brussels(), now=FRIDAY_18H_LOCAL, randomize=randomize, daily_limit=daily_limit)
    assert len(planned) == 50000
    assert all(item.at is not None for item in planned)
