"""The ticker (fast clock and cron wake-ups) and the crons it wakes: which they are, on or off, running or not."""

import contextlib
import threading

import psycopg2

from .base import MAIL_CRON_XMLID, AssertionFailed
from .db import query, scalar


class Ticker(threading.Thread):
    """Every `interval` seconds, in a thread of the orchestrator:

    * fast clock (when on): enrollments of the sequences under test that wait for a later step (the addon waits at
      least 5 minutes after a send) are made due now, with SQL on the rows no worker holds (FOR NO KEY UPDATE SKIP
      LOCKED: the lock an ORM write takes; a FOR UPDATE lock would make a concurrent insert referencing the row,
      such as the mail queue's "send" event, fail to serialize and Odoo send that email again), so every step runs
      within the fault window instead of 5 minutes later;
    * wake-ups: when due work exists, an ir.cron.trigger for now and the NOTIFY on cron_trigger that Odoo's own
      `_trigger()` sends, so a cron worker started or respawned a moment ago runs the job at once instead of after
      its 60 s sleep. Same for the mail queue cron when it is on and mails are outgoing.

    Database errors (the cluster being restarted) are counted and the connection opened again at the next tick.
    """

    def __init__(self, pg, db, sequence_ids, interval=1.0, fast_clock=True):
        super().__init__(name="faults-ticker", daemon=True)
        self.pg, self.db = pg, db
        self.sequence_ids = list(sequence_ids)
        self.interval = interval
        self.fast_clock = fast_clock
        self.wake_mail = False
        self.stop_event = threading.Event()
        self.conn = self.notify_conn = None
        self.errors = 0
        self.ticks = 0
        self.cron_ids = {}

    def set_sequences(self, sequence_ids):
        self.sequence_ids = list(sequence_ids)

    def stop(self):
        self.stop_event.set()
        if self.is_alive():
            self.join(timeout=15)
        self._close()

    def _close(self):
        for conn in (self.conn, self.notify_conn):
            if conn is not None:
                with contextlib.suppress(psycopg2.Error):
                    conn.close()
        self.conn = self.notify_conn = None

    def run(self):
        while not self.stop_event.wait(self.interval):
            try:
                self.tick()
            except psycopg2.Error:
                self.errors += 1
                self._close()

    def tick(self):
        if self.conn is None:
            self.conn = self.pg.connect(self.db, statement_timeout_ms=5000)
            self.notify_conn = self.pg.connect("postgres", statement_timeout_ms=5000)
            self.cron_ids = cron_ids(self.conn)
        self.ticks += 1
        conn, seq = self.conn, self.sequence_ids
        if self.fast_clock and seq:
            query(
                conn,
                """
                UPDATE sales_sequence_enrollment SET next_run_at = (now() AT TIME ZONE 'UTC') - interval '1 second'
                 WHERE id IN (SELECT id FROM sales_sequence_enrollment
                               WHERE sequence_id = ANY(%s) AND state IN ('active', 'queued')
                                 AND next_run_at > (now() AT TIME ZONE 'UTC')
                                 FOR NO KEY UPDATE SKIP LOCKED)
                """,
                (seq,),
            )
        wake = []
        if seq and scalar(
            conn,
            "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s) "
            "AND state IN ('active', 'queued') AND next_run_at <= (now() AT TIME ZONE 'UTC')",
            (seq,),
        ):
            wake.extend(self.cron_ids["run"])
        if self.wake_mail and scalar(conn, "SELECT count(*) FROM mail_mail WHERE state = 'outgoing'"):
            wake.append(self.cron_ids["mail"])
        for cron_id in wake:
            query(
                conn,
                """
                INSERT INTO ir_cron_trigger (cron_id, call_at, create_uid, write_uid, create_date, write_date)
                SELECT %(cron)s, now() AT TIME ZONE 'UTC', 1, 1, now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
                 WHERE NOT EXISTS (SELECT 1 FROM ir_cron_trigger
                                    WHERE cron_id = %(cron)s AND call_at <= now() AT TIME ZONE 'UTC')
                """,
                {"cron": cron_id},
            )
        if wake:
            query(self.notify_conn, "SELECT pg_notify('cron_trigger', %s)", (self.db,))


def cron_ids(conn):
    """{"run": the ids of every cron running the sequences (the ones whose code calls _cron_run_sequences: the
    addon may have more than one, so that several cron workers share the sends), "mail": the mail queue cron}."""
    run = [
        row[0]
        for row in query(
            conn,
            "SELECT c.id FROM ir_cron c JOIN ir_act_server a ON a.id = c.ir_actions_server_id "
            "WHERE a.state = 'code' AND a.code LIKE %s ORDER BY c.id",
            ("%_cron_run_sequences%",),
        )
    ]
    mail = scalar(
        conn,
        "SELECT res_id FROM ir_model_data WHERE model = 'ir.cron' AND module = %s AND name = %s",
        tuple(MAIL_CRON_XMLID.split(".")),
    )
    if not run or not mail:
        raise AssertionFailed(f"crons not found: run {run}, mail queue {mail}")
    return {"run": run, "mail": mail}


def _as_ids(cron_ids):
    return [cron_ids] if isinstance(cron_ids, int) else list(cron_ids)


def set_cron(conn, cron_ids, active, now=True):
    """Turn crons (an id or ids) on, due now, or off. Waits for a cron row a worker holds (lock_timeout bounds it)."""
    query(
        conn,
        "UPDATE ir_cron SET active = %s, nextcall = CASE WHEN %s THEN now() AT TIME ZONE 'UTC' ELSE nextcall END "
        "WHERE id = ANY(%s)",
        (active, now, _as_ids(cron_ids)),
    )


def job_running(conn, cron_ids):
    """Whether a cron worker runs one of these jobs now: it holds the job's row (FOR NO KEY UPDATE) while it runs.
    Probed with FOR SHARE SKIP LOCKED in one autocommit statement, so the probe holds nothing afterwards."""
    ids = _as_ids(cron_ids)
    return len(query(conn, "SELECT id FROM ir_cron WHERE id = ANY(%s) FOR SHARE SKIP LOCKED", (ids,))) < len(ids)
