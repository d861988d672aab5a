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
}


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
