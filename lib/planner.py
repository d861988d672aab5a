"""Sequence planner: when will every remaining step of a sequence's enrollments go out?

Pure Python (standard library only) so the forecast can be unit-tested without an Odoo database and shares its timing
rule (``slot_for_step``) with the run engine, which imports it from here: a forecast that computed slots its own way
would drift from what the cron really does.

The forecast replays the cron: sends are taken in global time order from a heap, so the daily limit of a mailbox goes
to the earliest slots first (ties: the lowest enrollment id), exactly as the cron hands it out minute after minute.
A send over the limit is queued to the first slot of the next day and competes there again; a send during the
owner's leave waits for the first slot after it; each step's slot is computed from the moment the previous step
really went. All datetimes are naive UTC.

Cost: a heap operation and a ``slot_for_step`` per planned step, plus, while a daily limit holds sends back, one
move per waiting send and day. Without randomized send times, sends waiting at the same slot (same mailbox, contact
timezone and kind) move together as one group, so a backlog of thousands costs one move a day, not thousands;
with randomized times each send draws its own slot every day, so the backlog is replayed send by send.
"""

import heapq
from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

try:
    from .conditions import branch_target, facts_after, next_in_order, unmet_condition
    from .send_schedule import ScheduleError
except ImportError:  # imported as a top-level module (PYTHONPATH=lib), as the pure-Python tests do
    from conditions import branch_target, facts_after, next_in_order, unmet_condition
    from send_schedule import ScheduleError

__all__ = [
    "MIN_STEP_GAP",
    "MOVED_BY_DAILY_LIMIT",
    "MOVED_BY_HOURLY_LIMIT",
    "MOVED_BY_MINUTE_LIMIT",
    "MOVED_BY_OWNER_LEAVE",
    "PlanEnrollment",
    "PlanStep",
    "PlannedStep",
    "plan",
    "slot_for_step",
]

# A step with no delay still waits a little after the previous one: two emails in the same second look automated,
# and it keeps one cron pass from running the same enrollment twice.
MIN_STEP_GAP = timedelta(minutes=5)

# Why a planned step is later than its own timing rule puts it (PlannedStep.moved_by): the last move it got.
MOVED_BY_DAILY_LIMIT = "daily_limit"
MOVED_BY_USER_LIMIT = "user_limit"
MOVED_BY_OWNER_LEAVE = "owner_leave"
MOVED_BY_HOURLY_LIMIT = "hourly_limit"
MOVED_BY_MINUTE_LIMIT = "minute_limit"

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)

# The only step kind that goes through the mailbox, hence the only one the daily limit counts.
EMAIL_KIND = "email"


def slot_for_step(schedule, delay_days, after, follows_send, randomize, tz, seed):
    """When a step with `delay_days` may run, `after` being the previous send (or the enrollment).

    With randomized send times, a delayed step goes at a random moment of the window of the day the delay lands on
    (whatever the time of day of the previous send), and a step without delay goes at once when the window is
    open, else at a random moment of the next window: emails look sent by a person, and a contact enrolled during
    an open window still gets step 1 within minutes. Plain values in, so a batch computes it without the ORM.
    """
    if delay_days:
        base = after + timedelta(days=delay_days)
    else:
        base = after + MIN_STEP_GAP if follows_send else after
    if not randomize:
        return schedule.next_slot(base, tz=tz)
    if delay_days:
        base = max(schedule.day_bounds(base, tz=tz)[0], after)
    elif schedule.is_open(base, tz=tz):
        return base
    return schedule.next_slot(base, tz=tz, seed=seed)


@dataclass(frozen=True)
class PlanStep:
    """A step of the sequence: `delay_days` after the previous send; only kind "email" counts against the limit.

    targets: a branch step's (yes position, no position), each None for "end the sequence"; None for other steps.
    conditions: a branch's conditions as (type, payload) pairs (lib/conditions.py), for the enrollments that bring
    no branch_specs of their own (record conditions then count as matching).
    """

    id: int
    delay_days: int
    kind: str = EMAIL_KIND
    targets: tuple | None = None
    conditions: tuple = ()


@dataclass(frozen=True)
class PlanEnrollment:
    """Where an enrollment stands: `step_index` (0-based, into the steps) is the next step to run.

    after: the previous send, or the enrollment date when no step ran yet (`follows_send` False).
    next_run_at: the slot the engine already gave that step, if any; it is kept as is (it may have been moved by a
    limit or a leave already) unless it is past.
    tz: the contact's timezone when the sequence reads windows in it, else None (the schedule's).
    mailbox: the normalized address the emails leave from: the unit of the daily limit.
    facts: what is known now of the contact's behaviour (lib/conditions.py facts: opened, any_replied, the last
    call's outcome...). A branch is answered on them as the cron will, assuming nothing new happens: an email or a
    call planned before the branch makes the facts about the latest email or call unknown (conditions.facts_after).
    branch_specs: {branch position: its conditions as (type, payload) with this contact's record matches}.
    stops: positions where the path taken at an earlier branch ends.
    """

    id: int
    step_index: int
    after: datetime
    follows_send: bool = False
    next_run_at: datetime | None = None
    tz: str | None = None
    mailbox: str = ""
    facts: frozenset = frozenset()
    branch_specs: dict | None = None
    stops: frozenset = frozenset()


@dataclass(frozen=True)
class PlannedStep:
    """One forecast send. `at` is None when the schedule has no slot for it: `problem` then says why (the
    ScheduleError text, shown to users as is) and the enrollment's plan stops there.

    moved_by: None when the step goes at the slot its timing rule gives, else why it was pushed later (the last
    push when there were several): MOVED_BY_DAILY_LIMIT or MOVED_BY_OWNER_LEAVE. On a problem item it names the
    push that found no slot, if one did.
    """

    enrollment_id: int
    step_id: int
    step_index: int
    at: datetime | None
    moved_by: str | None = None
    problem: str | None = None
    answer: bool | None = None  # a branch: the path it takes (True: yes)


def plan(
    enrollments,
    steps,
    schedule,
    *,
    now,
    randomize=False,
    daily_limit=0,
    already_sent=None,
    leaves=(),
    max_items=100000,
    user_limit=0,
    user_already_sent=None,
    hourly_limit=0,
    minute_limit=0,
    recent_sent=None,
):
    """The dated plan of every remaining step of every enrollment of one sequence, as the cron would run it.

    enrollments: PlanEnrollment values (ids unique); steps: the sequence's PlanStep values in order; schedule: its
    SendSchedule; now: the forecast's start, nothing is planned before it.
    randomize: the sequence's randomized send times (seeded by the enrollment id, as the engine does).
    daily_limit: emails per mailbox and day of the schedule's timezone, 0 for no limit.
    already_sent: {(mailbox, day start as given by schedule.day_bounds(x)[0]): emails already sent that day}.
    user_limit: emails per day of the owner's sequences, all mailboxes together (the cron checks it after the
    mailbox's limit), 0 for no limit; user_already_sent: {day start: emails the owner already sent that day}.
    hourly_limit, minute_limit: emails per mailbox and clock hour (UTC) or minute, 0 for no limit; the cron checks
    them before the daily ones and queues what is over to the next hour or minute. recent_sent: {(mailbox, "hour" or
    "minute", its start): emails already sent in that hour or minute}.
    leaves: the owner's leaves, (start, end) naive UTC pairs, half-open, overlapping allowed.
    max_items: the plan stops after this many items (the earliest ones): a full list may be truncated.

    Returns PlannedStep values sorted by (at, enrollment id, step index), undated problems last. Raises ValueError
    on duplicate enrollment ids, a negative step index, a negative limit; schedule errors become problem items.
    """
    for name, value in (
        ("daily limit", daily_limit),
        ("user limit", user_limit),
        ("hourly limit", hourly_limit),
        ("per-minute limit", minute_limit),
        ("maximum number of items", max_items),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"The {name} must be a whole number, at least 0; got {value!r}.")
    planner = _Planner(schedule, tuple(steps), now, randomize, daily_limit, already_sent, leaves, max_items)
    planner.user_limit, planner.user_sent = user_limit, dict(user_already_sent or {})
    planner.rate_limits = tuple(
        (limit, unit, reason)
        for limit, unit, reason in (
            (hourly_limit, "hour", MOVED_BY_HOURLY_LIMIT),
            (minute_limit, "minute", MOVED_BY_MINUTE_LIMIT),
        )
        if limit
    )
    planner.recent_sent = dict(recent_sent or {})
    return planner.run(enrollments)


def _sort_key(item):
    return (item.at is None, item.at or datetime.min, item.enrollment_id, item.step_index)


def _leave_index(leaves):
    """(starts, running max of ends) of the leaves sorted by start, to bisect.

    The cron holds a send until the latest end among the leaves under way (and holds it again if the slot after
    that falls in another leave), rather than the end of the merged stretch: with randomized times the two can
    give different slots, so the forecast does the same. The latest end among the leaves started by `at` is
    after `at` exactly when one of them is under way, and it is then the latest end among those under way.
    """
    starts, latest_ends = [], []
    for start, end in sorted((start, end) for start, end in leaves if end > start):
        starts.append(start)
        latest_ends.append(max(end, latest_ends[-1]) if latest_ends else end)
    return starts, latest_ends


class _Group:
    """Sends waiting at one slot that will move the same way until each goes: same slot, mailbox, contact
    timezone, seed and limited-or-not. Moving the group once moves them all, which keeps a daily-limit backlog
    cheap; without randomized times, sends pushed to the same slot share a group.

    members is a heap of (enrollment id, step index, generation, reason): the lowest enrollment id goes first, as in
    the cron. A member's reason is the move that brought it here, unless the group moved since it joined (its
    generation is older than moved_gen): then the group's reason is the member's too.
    """

    __slots__ = ("at", "limited", "mailbox", "members", "moved_gen", "reason", "seed", "token", "tz")

    def __init__(self, at, mailbox, tz, seed, limited, members):
        self.at = at
        self.mailbox = mailbox
        self.tz = tz
        self.seed = seed
        self.limited = limited
        self.members = members
        self.reason = None
        self.moved_gen = 0
        self.token = None  # the heap entry that is live for this group; older entries are skipped

    @property
    def key(self):
        return (self.at, self.mailbox, self.tz, self.seed, self.limited)

    def member_reason(self, member):
        return self.reason if self.moved_gen > member[2] else member[3]


class _Planner:
    """The replay of the cron for one plan() call: the heap of pending sends and the counters the limit reads."""

    def __init__(self, schedule, steps, now, randomize, daily_limit, already_sent, leaves, max_items):
        self.schedule = schedule
        self.steps = steps
        self.now = now
        self.randomize = randomize
        self.daily_limit = daily_limit
        self.sent = dict(already_sent or {})
        # The owner's limit: one owner per sequence, so one counter per day (plan() sets both).
        self.user_limit = 0
        self.user_sent = {}
        # The mailbox's hourly and per-minute limits: ((limit, "hour" or "minute", reason), ...); plan() sets them.
        self.rate_limits = ()
        self.recent_sent = {}
        self.leave_starts, self.leave_ends = _leave_index(leaves)
        self.max_items = max_items
        self.enrollments = {}
        self.kinds_run = {}  # enrollment id -> kinds of the steps planned so far (what facts_after forgets)
        self.stops = {}  # enrollment id -> positions where its current path ends
        self.heap = []
        self.waiting = {}  # group key -> group, for the groups moved to a slot, so later moves there join them
        self.planned = []
        self.serial = count(1)  # heap entry tokens and member generations: one increasing counter for both
        self.schedule_zone = ZoneInfo(schedule.tz)
        self.days = {}  # local date in the schedule's timezone -> its day_bounds

    def run(self, enrollments):
        try:
            # The cron checks the schedule before running a step and blocks the enrollments when it has no slot at
            # all (no window): a stored slot does not make such a step go.
            self.schedule.next_slot(self.now)
        except ScheduleError as error:
            broken = error
        else:
            broken = None
        for enrollment in enrollments:
            self._start(enrollment, broken)
        while self.heap and len(self.planned) < self.max_items:
            at, _enrollment_id, _step_index, token, group = heapq.heappop(self.heap)
            if token == group.token:
                self._handle(group, at)
        return sorted(self.planned, key=_sort_key)[: self.max_items]

    # --- entering the heap ------------------------------------------------------------------------------------

    def _seed(self, enrollment):
        return enrollment.id if self.randomize else None

    def _start(self, enrollment, broken):
        """Queue the enrollment's next step at its stored slot, or at the one its timing rule gives; a slot in the
        past means "at the next cron pass", i.e. the first slot from now. `broken`: the schedule's own error."""
        if enrollment.id in self.enrollments:
            raise ValueError(f"Enrollment {enrollment.id!r} is given twice: enrollment ids must be unique.")
        if enrollment.step_index < 0:
            raise ValueError(f"Enrollment {enrollment.id!r} has a negative step index {enrollment.step_index!r}.")
        self.enrollments[enrollment.id] = enrollment
        self.kinds_run[enrollment.id] = set()
        self.stops[enrollment.id] = set(enrollment.stops)
        if enrollment.step_index >= len(self.steps):
            return
        if broken is not None:
            self._add_problem(enrollment.id, enrollment.step_index, broken)
            return
        step = self.steps[enrollment.step_index]
        try:
            slot = enrollment.next_run_at or slot_for_step(
                self.schedule,
                step.delay_days,
                enrollment.after,
                enrollment.follows_send,
                self.randomize,
                enrollment.tz,
                enrollment.id,
            )
            if slot < self.now:
                slot = self.schedule.next_slot(self.now, tz=enrollment.tz, seed=self._seed(enrollment))
        except ScheduleError as error:
            self._add_problem(enrollment.id, enrollment.step_index, error)
            return
        self._queue(enrollment, enrollment.step_index, slot)

    def _queue(self, enrollment, step_index, at):
        """Put a fresh send in the heap, as a group of its own."""
        limited = (
            bool(self.daily_limit or self.user_limit or self.rate_limits) and self.steps[step_index].kind == EMAIL_KIND
        )
        member = (enrollment.id, step_index, next(self.serial), None)
        group = _Group(at, enrollment.mailbox, enrollment.tz or None, self._seed(enrollment), limited, [member])
        self._push(group)

    def _push(self, group):
        """Make a new heap entry live for the group, keyed by its slot and first member (older ones go stale)."""
        enrollment_id, step_index = group.members[0][:2]
        group.token = next(self.serial)
        heapq.heappush(self.heap, (group.at, enrollment_id, step_index, group.token, group))

    # --- one cron pass ----------------------------------------------------------------------------------------

    def _handle(self, group, at):
        """What the cron does with the group's first send when it falls due: hold it for the owner's leave, queue
        it to the next day when the mailbox reached its limit, else send it."""
        leave_end = self._leave_end(at)
        if leave_end is not None:
            self._move(group, leave_end, MOVED_BY_OWNER_LEAVE)
            return
        if group.limited:
            buckets = []
            for limit, unit, reason in self.rate_limits:  # before the daily limits, as the cron checks them
                start = _bucket_start(at, unit)
                bucket = (group.mailbox, unit, start)
                if self.recent_sent.get(bucket, 0) >= limit:
                    self._move(group, start + (HOUR if unit == "hour" else MINUTE), reason)
                    return
                buckets.append(bucket)
            day_start, next_day_start = self._day(at)
            counter = (group.mailbox, day_start)
            if self.daily_limit and self.sent.get(counter, 0) >= self.daily_limit:
                self._move(group, next_day_start, MOVED_BY_DAILY_LIMIT)
                return
            if self.user_limit and self.user_sent.get(day_start, 0) >= self.user_limit:
                self._move(group, next_day_start, MOVED_BY_USER_LIMIT)
                return
            self.sent[counter] = self.sent.get(counter, 0) + 1
            self.user_sent[day_start] = self.user_sent.get(day_start, 0) + 1
            for bucket in buckets:
                self.recent_sent[bucket] = self.recent_sent.get(bucket, 0) + 1
        self._send_first(group)

    def _leave_end(self, at):
        """When the owner is back from the leaves under way at `at` (the latest end), or None when working then."""
        index = bisect_right(self.leave_starts, at) - 1
        if index >= 0 and at < self.leave_ends[index]:
            return self.leave_ends[index]
        return None

    def _day(self, at):
        """(start, next day start) of the schedule day containing `at`, as the cron reads them to count and to queue.

        Keyed on the local date, since day_bounds depends on nothing else: one computation per day of the plan.
        next_day_start(at) is that day's end, unless a clock turned back across midnight put `at` past it.
        """
        local_date = at.replace(tzinfo=UTC).astimezone(self.schedule_zone).date()
        bounds = self.days.get(local_date)
        if bounds is None:
            bounds = self.days[local_date] = self.schedule.day_bounds(at)
        start, end = bounds
        return start, end if end > at else self.schedule.next_day_start(at)

    def _send_first(self, group):
        """Plan the group's first send at the group's slot, and the enrollment's following step from there."""
        member = heapq.heappop(group.members)
        enrollment_id, step_index = member[:2]
        enrollment = self.enrollments[enrollment_id]
        step = self.steps[step_index]
        answer = self._answer(enrollment, step_index) if step.targets is not None else None
        self.planned.append(
            PlannedStep(
                enrollment_id,
                step.id,
                step_index,
                group.at,
                moved_by=group.member_reason(member),
                answer=answer,
            )
        )
        if group.members:
            self._push(group)
        else:
            self._forget(group)
        self._queue_following(enrollment, self._following(enrollment, step_index, answer), group.at)

    def _answer(self, enrollment, step_index):
        """The branch's answer as the cron will give it: its conditions on the facts known now, less those a step
        planned since then makes unknown."""
        specs = (enrollment.branch_specs or {}).get(step_index, self.steps[step_index].conditions)
        facts = facts_after(enrollment.facts, self.kinds_run[enrollment.id])
        return unmet_condition(specs, facts) is None

    def _following(self, enrollment, step_index, answer):
        """The position of the enrollment's next step after `step_index` (None: the enrollment finishes)."""
        step = self.steps[step_index]
        stops = self.stops[enrollment.id]
        if step.targets is not None:
            target, stop = branch_target(step.targets, answer)
            if stop is not None:
                stops.add(stop)
            return target
        self.kinds_run[enrollment.id].add(step.kind)
        return next_in_order(step_index, len(self.steps), stops)

    def _queue_following(self, enrollment, step_index, sent_at):
        if step_index is None or step_index >= len(self.steps):
            return
        step = self.steps[step_index]
        try:
            slot = slot_for_step(
                self.schedule, step.delay_days, sent_at, True, self.randomize, enrollment.tz, enrollment.id
            )
        except ScheduleError as error:
            self._add_problem(enrollment.id, step_index, error)
            return
        self._queue(enrollment, step_index, slot)

    # --- moves ------------------------------------------------------------------------------------------------

    def _move(self, group, not_before, reason):
        """Queue the whole group to its first slot from `not_before`, joining the group already waiting there."""
        try:
            slot = self.schedule.next_slot(not_before, tz=group.tz, seed=group.seed)
        except ScheduleError as error:
            self._forget(group)
            group.token = None
            for member in sorted(group.members):
                self._add_problem(member[0], member[1], error, moved_by=reason)
            return
        self._forget(group)
        group.at = slot
        group.reason = reason
        group.moved_gen = next(self.serial)
        if group.seed is None:  # a seeded (randomized) send has a slot of its own: no group to join
            there = self.waiting.get(group.key)
            if there is not None:
                group = _merge(there, group, self.serial)
            self.waiting[group.key] = group
        self._push(group)

    def _forget(self, group):
        if group.seed is None and self.waiting.get(group.key) is group:
            del self.waiting[group.key]

    def _add_problem(self, enrollment_id, step_index, error, moved_by=None):
        step_id = self.steps[step_index].id
        problem = PlannedStep(enrollment_id, step_id, step_index, None, moved_by=moved_by, problem=str(error))
        self.planned.append(problem)


def _bucket_start(at, unit):
    """The start of the clock hour or minute (naive UTC) holding `at`, as the cron counts it."""
    if unit == "hour":
        return at.replace(minute=0, second=0, microsecond=0)
    return at.replace(second=0, microsecond=0)


def _merge(first, second, serial):
    """One group of two waiting at the same slot: the smaller one's members join the larger one, the cheaper way
    round, each keeping the reason it has now. The emptied group's heap entry goes stale.
    """
    large, small = (first, second) if len(first.members) >= len(second.members) else (second, first)
    for member in small.members:
        heapq.heappush(large.members, (member[0], member[1], next(serial), small.member_reason(member)))
    small.members = []
    small.token = None
    return large
