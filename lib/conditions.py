"""Step conditions on the conversation: does the previous email's activity let a step run?

Plain Python, no Odoo: the engine gathers what happened to the enrollment's previous email (from its events) and
asks here. A negative condition ("not opened", "not replied") is judged when the step falls due, on the delay alone:
it never waits for an open, since many mail clients block the pixel and an open may never be seen.
"""

ACTIVITY_CONDITIONS = {
    # condition type: (fact it reads, whether that fact must be present)
    "opened": ("opened", True),
    "not_opened": ("opened", False),
    "clicked": ("clicked", True),
    "not_clicked": ("clicked", False),
    "replied": ("replied", True),
    "not_replied": ("replied", False),
    # Any email of the enrollment so far, not only the latest one.
    "any_opened": ("any_opened", True),
    "any_clicked": ("any_clicked", True),
    "any_replied": ("any_replied", True),
}
# The facts about the latest email, forgotten when a new email goes: it becomes the latest one.
LATEST_EMAIL_FACTS = frozenset({"opened", "clicked", "replied"})
# The last call's outcome is the fact "outcome:<id>"; a new call has none until it is marked done.
OUTCOME_PREFIX = "outcome:"
EMAIL_KINDS = frozenset({"email", "email_reminder"})


def outcome_fact(outcome_id):
    return f"{OUTCOME_PREFIX}{outcome_id}"


def unmet_condition(specs, facts):
    """The first condition of `specs` the `facts` do not satisfy, else None. `specs`: (condition type, payload)
    pairs; the payload of "call_outcome" is the outcome ids it accepts (the last call's outcome must be one), that
    of a record condition ("contact", "opportunity") whether the record matches (its domain is searched by the
    caller); activity conditions have no payload."""
    for condition_type, payload in specs:
        rule = ACTIVITY_CONDITIONS.get(condition_type)
        if rule is not None:
            if (rule[0] in facts) != rule[1]:
                return condition_type
        elif condition_type == "call_outcome":
            if not any(outcome_fact(outcome_id) in facts for outcome_id in payload):
                return condition_type
        elif not payload:
            return condition_type
    return None


def facts_after(facts, kinds):
    """The facts a forecast may still count on once steps of `kinds` ran with no reaction seen yet: a new email
    makes the facts about the latest email unknown, a new call has no outcome yet (both assumed not happened);
    what happened to any earlier email stays true."""
    kept = set(facts)
    if kinds & EMAIL_KINDS:
        kept -= LATEST_EMAIL_FACTS
    if "call" in kinds:
        kept = {fact for fact in kept if not fact.startswith(OUTCOME_PREFIX)}
    return kept


# Branch steps: the path an enrollment takes, as positions (0-based) in the sequence's steps.
def branch_target(targets, answer):
    """(position of the step the branch goes to, or None to end the sequence; position where that path ends, or
    None). `targets`: (yes position or None, no position or None). The path that starts at the earlier target
    ends where the other one starts: the two paths never run into each other."""
    yes, no = targets
    target, other = (yes, no) if answer else (no, yes)
    if target is None:
        return None, None
    return target, (other if other is not None and other > target else None)


def next_in_order(position, count, stops, done=()):
    """The position after `position` that has not run (`done`), or None when the steps run out or the path taken
    at an earlier branch ends there (`stops`)."""
    for following in range(position + 1, count):
        if following in stops:
            return None
        if following not in done:
            return following
    return None


def failed_condition(condition_types, facts):
    """The first of `condition_types` the `facts` (a set of "opened", "clicked", "replied" about the previous
    email) do not satisfy, else None. Unknown types are left to the caller (contact conditions)."""
    for condition_type in condition_types:
        rule = ACTIVITY_CONDITIONS.get(condition_type)
        if rule is None:
            continue
        fact, wanted = rule
        if (fact in facts) != wanted:
            return condition_type
    return None


def can_still_match(condition_types, facts):
    """Whether a step with these conditions may match later: a negative condition whose fact already happened
    never becomes true again (an open is not undone); a positive one may still come true."""
    for condition_type in condition_types:
        rule = ACTIVITY_CONDITIONS.get(condition_type)
        if rule and not rule[1] and rule[0] in facts:
            return False
    return True


# Smart sequences: at each run, the step that fits the contact's behaviour now, and when nothing is left to do.
def pick_step(steps, done_ids, facts):
    """The first step not yet run whose conditions all hold; `steps` is a list of (step_id, condition_types,
    contact_ok). Returns the step id or None."""
    for step_id, condition_types, contact_ok in steps:
        if step_id in done_ids or not contact_ok:
            continue
        if failed_condition(condition_types, facts) is None:
            return step_id
    return None


def is_exhausted(steps, done_ids, facts):
    """True when no step that has not run can ever match: every step ran, or each remaining one waits on a
    negative condition whose event already happened (contact conditions may change, so they never exhaust)."""
    return all(
        step_id in done_ids or not can_still_match(condition_types, facts) for step_id, condition_types, _ok in steps
    )
