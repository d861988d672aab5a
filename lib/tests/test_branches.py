"""Branch steps in the pure code: conditions with their payloads, the path taken, and the planner following it.

Run with: cd lib/tests && PYTHONPATH=.. python -m pytest -q -p no:cacheprovider --rootdir=. --confcutdir=. \
    test_branches.py
"""

from datetime import datetime, timedelta

from conditions import (
    branch_target,
    facts_after,
    next_in_order,
    outcome_fact,
    unmet_condition,
)
from planner import PlanEnrollment, PlanStep, plan
from send_schedule import SendSchedule

ALWAYS = SendSchedule([(weekday, 0, 24) for weekday in range(7)], tz="UTC")
START = datetime(2026, 1, 19, 8, 0)


def test_unmet_condition_reads_facts_outcomes_and_record_matches():
    assert unmet_condition([("replied", None)], {"replied"}) is None
    assert unmet_condition([("replied", None)], set()) == "replied"
    assert unmet_condition([("any_opened", None)], {"any_opened"}) is None
    assert unmet_condition([("call_outcome", (3, 4))], {outcome_fact(4)}) is None
    assert unmet_condition([("call_outcome", (3,))], {outcome_fact(4)}) == "call_outcome"
    assert unmet_condition([("contact", True), ("opportunity", False)], set()) == "opportunity"
    assert unmet_condition([], set()) is None


def test_facts_after_forgets_what_a_new_email_or_call_makes_unknown():
    facts = {"opened", "replied", "any_opened", outcome_fact(2)}
    assert facts_after(facts, set()) == facts
    assert facts_after(facts, {"email"}) == {"any_opened", outcome_fact(2)}
    assert facts_after(facts, {"call"}) == {"opened", "replied", "any_opened"}
    assert facts_after(facts, {"task", "sms"}) == facts


def test_branch_target_ends_the_earlier_path_where_the_later_one_starts():
    assert branch_target((2, 4), True) == (2, 4)
    assert branch_target((2, 4), False) == (4, None)
    assert branch_target((4, 2), True) == (4, None)
    assert branch_target((None, 3), True) == (None, None)
    assert branch_target((None, 3), False) == (3, None)


def test_next_in_order_stops_at_the_end_of_the_path():
    assert next_in_order(2, 6, set()) == 3
    assert next_in_order(3, 6, {4}) is None
    assert next_in_order(1, 6, set(), done={2}) == 3
    assert next_in_order(5, 6, set()) is None


STEPS = [
    PlanStep(10, 0, "email"),
    PlanStep(11, 2, "branch", targets=(2, 4)),  # replied? yes -> position 2, no -> position 4
    PlanStep(12, 1, "email"),  # yes path
    PlanStep(13, 1, "call"),  # yes path, ends before position 4
    PlanStep(14, 3, "email"),  # no path
]
REPLIED = {1: (("any_replied", None),)}


def _plan(facts, step_index=0, **values):
    enrollment = PlanEnrollment(1, step_index, START, facts=frozenset(facts), branch_specs=REPLIED, **values)
    return plan([enrollment], STEPS, ALWAYS, now=START)


def test_the_planner_follows_the_known_answer():
    planned = _plan({"any_replied"})
    assert [(item.step_id, item.answer) for item in planned] == [(10, None), (11, True), (12, None), (13, None)]
    assert planned[0].at == START
    assert planned[1].at == START + timedelta(days=2)  # the branch's own delay after the email
    assert planned[2].at == planned[1].at + timedelta(days=1)  # the target's delay counts from the branch
    assert planned[3].at == planned[2].at + timedelta(days=1)


def test_the_planner_takes_no_for_behaviour_not_seen_yet():
    planned = _plan(set())
    assert [(item.step_id, item.answer) for item in planned] == [(10, None), (11, False), (14, None)]
    assert (planned[2].at - planned[1].at).days == 3


def test_an_email_before_the_branch_forgets_the_latest_email_facts():
    specs = {1: (("opened", None),)}
    enrollment = PlanEnrollment(1, 0, START, facts=frozenset({"opened"}), branch_specs=specs)
    planned = plan([enrollment], STEPS, ALWAYS, now=START)
    assert planned[1].answer is False  # step 10 is a new email: whether it is opened is not known
    enrollment = PlanEnrollment(1, 1, START, facts=frozenset({"opened"}), branch_specs=specs)
    planned = plan([enrollment], STEPS, ALWAYS, now=START)
    assert planned[0].answer is True  # the branch is next: the latest email was opened


def test_a_stop_from_an_earlier_branch_ends_the_plan():
    planned = _plan(set(), step_index=3, stops=frozenset({4}))
    assert [item.step_id for item in planned] == [13]


def test_a_branch_to_the_end_plans_nothing_after_it():
    steps = [PlanStep(20, 0, "branch", targets=(None, 1)), PlanStep(21, 1, "email")]
    yes = PlanEnrollment(1, 0, START, facts=frozenset({"any_clicked"}), branch_specs={0: (("any_clicked", None),)})
    no = PlanEnrollment(2, 0, START, branch_specs={0: (("any_clicked", None),)})
    planned = plan([yes, no], steps, ALWAYS, now=START)
    assert [(item.enrollment_id, item.step_id, item.answer) for item in planned] == [
        (1, 20, True),
        (2, 20, False),
        (2, 21, None),
    ]
