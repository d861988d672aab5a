"""The work under test: waves of new enrollments fed while the faults go on, and the counts of what is done."""

from .db import query, scalar


class WorkFeeder:
    """More contacts enrolled in the running sequence while the faults go on, so that each fault finds the cron at
    work whatever this machine's speed (it varies several times over with the load of the other users of its 2
    cores): a wave of `wave` new contacts (shell_tasks.py enroll) whenever fewer than `low` step runs are left to
    do, up to `limit` enrollments in all."""

    def __init__(self, run, pg, db, setup, tag, wave, low, limit):
        self.run, self.pg, self.db = run, pg, db
        self.seq = setup["sequence_id"]
        self.tag = tag
        self.enrolled = setup["enrollments"]
        self.next_index = setup["enrollments"]
        self.wave, self.low, self.limit = wave, low, limit
        self.proc = None
        self.waves = 0

    def busy(self):
        return self.proc is not None

    def feed(self, conn):
        """Collect a finished wave; start the next one when the work runs low. Never waits."""
        self._collect()
        if self.proc is not None:
            return
        left = self.enrolled * self.run.steps - step_runs(conn, self.seq)
        if left < self.low and self.next_index + self.wave <= self.limit:
            args = {"sequence_id": self.seq, "tag": self.tag, "start": self.next_index, "size": self.wave}
            self.next_index += self.wave
            self.proc = self.run.shell(
                self.pg, self.db, "enroll", args, log_name=f"shell-enroll-{self.waves + 1}.log", wait=False
            )

    def _collect(self):
        if self.proc is not None and self.proc.poll() is not None:
            outcome = self.run.shell_result(self.proc, "enroll")
            self.enrolled += outcome["enrollments"]
            self.waves += 1
            self.proc = None

    def finish(self):
        """Wait for the wave under way, if any; start no other."""
        if self.proc is not None:
            self.run.wait_until(lambda: self.proc.poll() is not None, 120, "the last wave enrolled", 0.2)
            self._collect()


def open_enrollments(conn, sequence_id):
    """Enrollments of the sequence with a step still to run (active or queued)."""
    return scalar(
        conn,
        "SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %s AND state IN ('active', 'queued')",
        (sequence_id,),
    )


def step_runs(conn, sequence_id):
    """Successful step runs so far: the progress of a run."""
    return scalar(
        conn,
        "SELECT count(*) FROM sales_sequence_touch t JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id "
        "WHERE e.sequence_id = %s AND t.failed IS NOT TRUE",
        (sequence_id,),
    )


def step_runs_due(conn, sequence_id):
    """The step runs the sequence's enrollments so far make: enrollments times steps."""
    return scalar(
        conn,
        "SELECT (SELECT count(*) FROM sales_sequence_enrollment WHERE sequence_id = %(seq)s) "
        "* (SELECT count(*) FROM sales_sequence_step WHERE sequence_id = %(seq)s)",
        {"seq": sequence_id},
    )


def state_counts(conn, sequence_ids):
    return dict(
        query(
            conn,
            "SELECT state, count(*) FROM sales_sequence_enrollment WHERE sequence_id = ANY(%s) GROUP BY state",
            (list(sequence_ids),),
        )
    )
