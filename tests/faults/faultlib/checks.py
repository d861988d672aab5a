"""The final SQL assertions, and the settling of a run before them."""

import collections
from dataclasses import dataclass, field

from .base import say
from .db import query, scalar
from .ticker import job_running, set_cron
from .work import open_enrollments, state_counts


@dataclass
class Check:
    """Counts of one run's assertions; `problems` lists the first examples of each kind."""

    enrollments: int = 0
    steps: int = 0
    duplicates: int = 0
    misses: int = 0
    left_due: int = 0
    left_blocked: int = 0
    left_open: int = 0
    failed_sends: int = 0
    smtp: int = 0
    by_kind: collections.Counter = field(default_factory=collections.Counter)
    problems: list = field(default_factory=list)
    extra_failures: list = field(default_factory=list)

    def add(self, kind, what, example):
        self.by_kind[f"{kind} {what}"] += 1
        if what == "duplicate":
            self.duplicates += 1
        else:
            self.misses += 1
        if sum(1 for p in self.problems if p.startswith(f"{kind} {what}")) < 5:
            self.problems.append(f"{kind} {what}: {example}")

    def merge(self, other):
        for name in ("enrollments", "duplicates", "misses", "left_due", "left_blocked", "left_open"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.failed_sends += other.failed_sends
        self.smtp += other.smtp
        self.steps = max(self.steps, other.steps)
        self.by_kind.update(other.by_kind)
        self.problems += other.problems
        self.extra_failures += other.extra_failures

    @property
    def ok(self):
        return (
            not (self.duplicates or self.misses or self.left_due or self.left_blocked or self.left_open)
            and not self.extra_failures
        )


def check_before_mail_queue(conn, sequence_id, result):
    """Before the mail queue runs: each successful step run's message has exactly one mail.mail row, outgoing."""
    for eid, step_id, count in query(
        conn,
        """
        SELECT t.enrollment_id, t.step_id, count(m.id)
          FROM sales_sequence_touch t
          JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
     LEFT JOIN mail_mail m ON m.mail_message_id = t.mail_message_id AND m.state = 'outgoing'
         WHERE e.sequence_id = %s AND t.failed IS NOT TRUE
      GROUP BY t.enrollment_id, t.step_id, t.id
        HAVING count(m.id) <> 1
        """,
        (sequence_id,),
    ):
        result.add(
            "mail.mail(outgoing)", "duplicate" if count > 1 else "miss", f"enrollment {eid} step {step_id}: {count}"
        )


def check_sequence(conn, sequence_id, sink_records=None, expect_sent=True):
    """The end state of one sequence's run, in SQL: for every enrollment and every step, exactly one successful
    step run (touch), one email in the enrollment's chatter (plus one per failed attempt, which stays there),
    one mail.mail row ever created for it, one note on the contact once sent, one email at the SMTP server (when given);
    every enrollment finished, none due, blocked, paused or otherwise open."""
    result = Check()
    steps = query(
        conn,
        "SELECT id, name, row_number() OVER (ORDER BY sequence, id) FROM sales_sequence_step "
        "WHERE sequence_id = %s ORDER BY sequence, id",
        (sequence_id,),
    )
    enrollments = query(
        conn,
        "SELECT e.id, e.partner_id, lower(p.email), e.state, e.next_run_at <= (now() AT TIME ZONE 'UTC') "
        "FROM sales_sequence_enrollment e JOIN res_partner p ON p.id = e.partner_id WHERE e.sequence_id = %s",
        (sequence_id,),
    )
    result.enrollments, result.steps = len(enrollments), len(steps)
    smtp = None
    if sink_records is not None:
        smtp = collections.Counter()
        for record in sink_records:
            for rcpt in record["rcpt"]:
                for marker in record["markers"] or ["none"]:
                    smtp[(rcpt.lower(), marker)] += 1
        emails = {row[2] for row in enrollments}
        result.smtp = sum(count for (rcpt, _marker), count in smtp.items() if rcpt in emails)
    for step in steps:
        _check_step(conn, result, step, enrollments, smtp, expect_sent)
    _check_lost_and_unrecorded(conn, result, [row[0] for row in enrollments])
    if sink_records is not None:
        _check_message_ids(conn, result, [row[0] for row in enrollments], sink_records)
    for eid, _pid, _email, state, due in enrollments:
        if state in ("active", "queued") and due:
            result.left_due += 1
        elif state == "blocked":
            result.left_blocked += 1
        elif state != "finished":
            result.left_open += 1
        if state != "finished" and len(result.problems) < 40:
            result.problems.append(f"enrollment {eid} left {state}")
    return result


def _check_step(conn, result, step, enrollments, smtp, expect_sent):
    """One step, every enrollment: step runs, chatter emails, contact notes, mail.mail rows, SMTP receptions."""
    step_id, step_name, position = step
    marker = f"{position:02d}"
    eids = [row[0] for row in enrollments]
    pids = [row[1] for row in enrollments]
    touches = {
        eid: (ok, failed)
        for eid, ok, failed in query(
            conn,
            "SELECT enrollment_id, count(*) FILTER (WHERE failed IS NOT TRUE), count(*) FILTER (WHERE failed) "
            "FROM sales_sequence_touch WHERE step_id = %s GROUP BY enrollment_id",
            (step_id,),
        )
    }
    messages = dict(
        query(
            conn,
            "SELECT res_id, count(*) FROM mail_message WHERE model = 'sales.sequence.enrollment' "
            "AND res_id = ANY(%s) AND message_type = 'comment' AND body LIKE %s GROUP BY res_id",
            (eids, f"%FaultBody{marker}%"),
        )
    )
    notes = dict(
        query(
            conn,
            "SELECT res_id, count(*) FROM mail_message WHERE model = 'res.partner' AND res_id = ANY(%s) "
            "AND message_type = 'notification' AND body LIKE %s GROUP BY res_id",
            (pids, f"%{step_name}%sent%"),
        )
    )
    mails_created = dict(
        query(
            conn,
            """
            SELECT t.enrollment_id, count(l.id)
              FROM sales_sequence_touch t LEFT JOIN faults_mail_mail_log l ON l.mail_message_id = t.mail_message_id
             WHERE t.step_id = %s AND t.failed IS NOT TRUE GROUP BY t.enrollment_id, t.id
            """,
            (step_id,),
        )
    )
    unsent = {
        eid
        for (eid,) in query(
            conn,
            "SELECT enrollment_id FROM sales_sequence_touch WHERE step_id = %s AND failed IS NOT TRUE "
            "AND sent_at IS NULL",
            (step_id,),
        )
    }
    for eid, pid, email, _state, _due in enrollments:
        ok, failed = touches.get(eid, (0, 0))
        what = f"enrollment {eid} step {step_name}"
        result.failed_sends += failed
        expect_one(result, "touch", ok, 1, what)
        expect_one(result, "message", messages.get(eid, 0), 1 + failed, what)
        # The addon writes the contact's note when the mail server took the email: one per step once sent.
        expected_notes = 1 if expect_sent else 0
        expect_one(result, "contact note", notes.get(pid, 0), expected_notes, f"partner {pid} step {step_name}")
        expect_one(result, "mail.mail", mails_created.get(eid, 0), 1 if ok else 0, what)
        if expect_sent and eid in unsent:
            result.add("sent_at", "miss", f"{what}: the mail queue never sent it")
        if smtp is not None:
            expect_one(result, "smtp", smtp.get((email, marker), 0), 1, f"{email} step {step_name}")


def _check_lost_and_unrecorded(conn, result, eids):
    # An email the queue gave up on (exception) while its step run still counts as sent: lost without a pause.
    for eid, step_id, reason in query(
        conn,
        """
        SELECT t.enrollment_id, t.step_id, left(m.failure_reason, 80)
          FROM sales_sequence_touch t JOIN mail_mail m ON m.mail_message_id = t.mail_message_id
         WHERE t.enrollment_id = ANY(%s) AND t.failed IS NOT TRUE AND m.state IN ('exception', 'cancel')
        """,
        (eids,),
    ):
        result.add(
            "email given up by the queue, step counted as sent", "miss", f"enrollment {eid} step {step_id}: {reason!r}"
        )
    # Emails posted on the enrollments that no step run points to: an email nobody recorded as sent.
    for eid, count in query(
        conn,
        """
        SELECT m.res_id, count(*) FROM mail_message m
         WHERE m.model = 'sales.sequence.enrollment' AND m.res_id = ANY(%s) AND m.message_type = 'comment'
           AND NOT EXISTS (SELECT 1 FROM sales_sequence_touch t WHERE t.mail_message_id = m.id)
      GROUP BY m.res_id
        """,
        (eids,),
    ):
        result.add("message", "duplicate", f"enrollment {eid}: {count} email(s) without a step run")


def check_send_records(conn, sequence_id, result, sink_records):
    """For every email of the sequence the mail queue marked sent (its notification `sent`): `sent_at` set and
    exactly one send event; no send left unrecorded (`record_pending`); each successful run's email received at
    least once by the SMTP server. Returns how many emails the server received more than once (a worker killed
    between the server's reply and its commit sends again: Odoo's mail queue is at-least-once)."""
    rows = query(
        conn,
        """
        SELECT t.id, t.enrollment_id, t.failed, t.sent_at IS NOT NULL, t.record_pending IS TRUE, t.message_id,
               EXISTS (SELECT 1 FROM mail_notification n WHERE n.mail_message_id = t.mail_message_id
                          AND n.notification_type = 'email' AND n.notification_status = 'sent'),
               (SELECT count(*) FROM sales_sequence_event ev WHERE ev.touch_id = t.id AND ev.event_type = 'send')
          FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
         WHERE e.sequence_id = %s
        """,
        (sequence_id,),
    )
    received = collections.Counter(record["message_id"] for record in sink_records)
    resent = 0
    for touch_id, eid, failed, sent, pending, message_id, marked_sent, events in rows:
        what = f"enrollment {eid} step run {touch_id}"
        if pending:
            result.add("send recorded", "miss", f"{what}: sent, never recorded")
        if marked_sent and not sent:
            result.add("sent_at", "miss", f"{what}: the queue marked it sent")
        if marked_sent or sent:
            expect_one(result, "send event", events, 1, what)
        if not failed:
            if not received.get(message_id):
                result.add("smtp", "miss", f"{what}: {message_id} never received")
            resent += max(received.get(message_id, 0) - 1, 0)
    return resent


def _check_message_ids(conn, result, eids, sink_records):
    """By Message-Id: each successful run's email reached the SMTP server once, a failed run's never."""
    by_message_id = collections.Counter(record["message_id"] for record in sink_records)
    for eid, message_id, failed in query(
        conn,
        "SELECT enrollment_id, message_id, failed FROM sales_sequence_touch WHERE enrollment_id = ANY(%s)",
        (eids,),
    ):
        want = 0 if failed else 1
        expect_one(result, "smtp(Message-Id)", by_message_id.get(message_id, 0), want, f"enrollment {eid} {message_id}")


def expect_one(result, kind, got, want, example):
    if got > want:
        result.add(kind, "duplicate", f"{example}: {got} (want {want})")
    elif got < want:
        result.add(kind, "miss", f"{example}: {got} (want {want})")


def settle_and_check(run, db_conn, seq, crons, ticker, server, sink, smtp_check, precheck=True):
    """After the faults: the real cron drains the due work without faults; each email's outgoing mail.mail row is
    checked (`precheck`); with `smtp_check` the mail queue cron then sends everything to the SMTP sink; last, the
    SQL assertions. `db_conn()` returns a live connection to the database."""
    run.wait_until(lambda: not open_enrollments(db_conn(), seq), max(run.remaining() - 60, 10), "all steps run", 1)
    run.wait_until(lambda: not job_running(db_conn(), crons["run"]), 60, "the cron job ended", 0.2)
    result = Check()
    if precheck:
        check_before_mail_queue(db_conn(), seq, result)
    say(f"states {state_counts(db_conn(), [seq])}")
    if smtp_check:
        say("the mail queue sends to the SMTP sink")
        ticker.wake_mail = True
        set_cron(db_conn(), crons["mail"], True)
        run.wait_until(
            lambda: not scalar(db_conn(), "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"),
            max(run.remaining() - 20, 10),
            "the mail queue empty",
            1,
        )
        # The send events and contacts' notes are written after each batch the mail queue sent, not per email.
        run.wait_until(lambda: not job_running(db_conn(), crons["mail"]), 60, "the mail queue job ended", 0.2)
    ticker.stop()
    server.stop()
    check = check_sequence(db_conn(), seq, sink.records() if smtp_check else None, expect_sent=smtp_check)
    check.merge(result)
    return check
