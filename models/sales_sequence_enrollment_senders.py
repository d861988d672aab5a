import math

from odoo import _, api, fields, models

# Settings > CRM > Sales Sequences > Parallel senders: the run cron jobs kept, each one sender at a time.
PARALLEL_SENDERS_PARAM = "sales_sequence.parallel_senders"
DEFAULT_PARALLEL_SENDERS = 2
MAX_PARALLEL_SENDERS = 32
# The run cron's jobs: the first two come with the module (data/ir_cron_data.xml); the others are copies of the
# first, made by the setting, with an xml id of this module each (noupdate: a module update keeps them, an
# uninstall removes them).
RUN_CRON_MODULE = "sales_sequence"
RUN_CRON_NAMES = ("ir_cron_run_sequences", "ir_cron_run_sequences_parallel")
RUN_CRON_COPY_NAME = "ir_cron_run_sequences_%s"

# queue_job (OCA), optional: the module works without it, and nothing here imports it.
USE_QUEUE_JOB_PARAM = "sales_sequence.use_queue_job"
QUEUE_JOB_CHANNEL = "root.sales_sequence"
# Jobs kept waiting per sender while due work remains: the runner starts the next one as soon as a sender is free,
# rather than after its predecessor queued it (a job's successor only exists once the job has committed).
JOBS_PER_SENDER = 3


class SalesSequenceEnrollment(models.Model):
    """How many senders run the due steps at once, on any number of Odoo hosts sharing one database.

    Odoo runs one cron job in one worker at a time (the job's row is locked while it runs), whichever host the
    worker is on. N run jobs therefore give up to N senders, spread over the cron workers of all hosts; they share
    the due enrollments chunk by chunk (`_lock_due`: FOR NO KEY UPDATE SKIP LOCKED). With queue_job installed and
    chosen, the run jobs only enqueue jobs on the channel root.sales_sequence (whose capacity is the parallel
    senders), each running one locked chunk in its own transaction and enqueueing its successor in that same
    transaction."""

    _inherit = "sales.sequence.enrollment"

    # ------------------------------------------------------------------
    # Parallel senders: the run cron jobs
    # ------------------------------------------------------------------

    @api.model
    def _parallel_senders(self):
        # sudo: a technical setting, read by whoever runs the cron.
        value = self.env["ir.config_parameter"].sudo().get_param(PARALLEL_SENDERS_PARAM, DEFAULT_PARALLEL_SENDERS)
        try:
            return min(max(int(value), 1), MAX_PARALLEL_SENDERS)
        except (TypeError, ValueError):
            return DEFAULT_PARALLEL_SENDERS

    @api.model
    def _run_cron_xmlids(self):
        """{position (1-based): ir.model.data record} of the run cron jobs that exist, archived ones included."""
        names = [*RUN_CRON_NAMES, *(RUN_CRON_COPY_NAME % position for position in range(3, MAX_PARALLEL_SENDERS + 1))]
        # sudo: technical records (xml ids of crons), read by the cron and the settings alike.
        data = (
            self.env["ir.model.data"]
            .sudo()
            .search([("module", "=", RUN_CRON_MODULE), ("model", "=", "ir.cron"), ("name", "in", names)])
        )
        positions = {name: position for position, name in enumerate(names, start=1)}
        return {positions[record.name]: record for record in data}

    @api.model
    def _run_crons(self):
        """The run cron jobs that run: active, in their order."""
        by_position = self._run_cron_xmlids()
        # sudo: the crons are technical records; the caller (a send, the cron) only wakes them.
        crons = self.env["ir.cron"].sudo().browse([by_position[key].res_id for key in sorted(by_position)])
        return crons.exists().filtered("active")

    @api.model
    def _sync_run_crons(self, count=None):
        """Keep `count` run cron jobs active (the setting by default): copies of the first made or unarchived up to
        `count`, those above archived. The first job is never touched: archiving it stops the sends, an
        administrator's choice the setting does not undo (the others are archived with it at the next save)."""
        count = count or self._parallel_senders()
        by_position = self._run_cron_xmlids()
        first_data = by_position.get(1)
        if not first_data:
            return
        # sudo: the settings (administrators only) or the module's own hooks manage the module's cron jobs.
        Cron = self.env["ir.cron"].sudo()
        first = Cron.browse(first_data.res_id).exists()
        if not first:
            return
        for position in range(2, MAX_PARALLEL_SENDERS + 1):
            data = by_position.get(position)
            cron = Cron.browse(data.res_id).exists() if data else Cron
            wanted = position <= count and first.active
            if cron:
                if cron.active != wanted:
                    cron.active = wanted
            elif wanted:
                self._copy_run_cron(first, position, data)

    @api.model
    def _copy_run_cron(self, first, position, stale_data):
        cron = first.copy(
            {
                "name": _("%(name)s (sender %(position)s)", name=first.name, position=position),
                "active": True,
                "nextcall": fields.Datetime.now(),
            }
        )
        if stale_data:  # its cron was deleted by hand: the xml id points at the new one
            stale_data.sudo().res_id = cron.id
            return cron
        # sudo: the xml id of a record of this module, so that an uninstall removes it; noupdate, so that a
        # module update keeps it.
        self.env["ir.model.data"].sudo().create(
            {
                "module": RUN_CRON_MODULE,
                "name": RUN_CRON_COPY_NAME % position,
                "model": "ir.cron",
                "res_id": cron.id,
                "noupdate": True,
            }
        )
        return cron

    # ------------------------------------------------------------------
    # queue_job (optional)
    # ------------------------------------------------------------------

    @api.model
    def _queue_job_installed(self):
        """Whether the OCA queue_job module is installed in this database (its models are in the registry)."""
        return "queue.job" in self.env and "queue.job.channel" in self.env

    @api.model
    def _run_with_queue_job(self):
        # sudo: a technical setting, read by whoever runs the cron.
        chosen = self.env["ir.config_parameter"].sudo().get_param(USE_QUEUE_JOB_PARAM)
        return bool(chosen) and chosen != "False" and self._queue_job_installed()

    @api.model
    def _ensure_queue_job_channel(self):
        """The channel root.sales_sequence, made when queue_job is installed (XML data cannot name queue_job's
        records without depending on it), its capacity the parallel senders (queue_job's per-database channels;
        a runner configured with `channels = ...` uses its own configuration instead)."""
        if not self._queue_job_installed():
            return None
        # sudo: a technical record of queue_job, made by the settings (administrators) or the cron.
        Channel = self.env["queue.job.channel"].sudo()
        capacity = {"capacity": self._parallel_senders()} if "capacity" in Channel._fields else {}
        channel = Channel.search([("complete_name", "=", QUEUE_JOB_CHANNEL)], limit=1)
        if channel:
            if capacity and channel.capacity != capacity["capacity"]:
                channel.write(capacity)
            return channel
        root = self.env.ref("queue_job.channel_root", raise_if_not_found=False) or Channel.search(
            [("complete_name", "=", "root")], limit=1
        )
        return Channel.create({"name": QUEUE_JOB_CHANNEL.split(".")[-1], "parent_id": root.id, **capacity})

    @api.model
    def _enqueue_run_jobs(self, now, chunk_size):
        """The run cron with queue_job: up to JOBS_PER_SENDER jobs per sender while due work is there (one per
        chunk due at most), none twice (identity key: a job of the same slot still waiting is not queued again).
        The channel's capacity (the parallel senders) bounds how many run at once. Returns the slots queued."""
        due = self._count_due(now)
        if not due:
            self.env["ir.cron"]._notify_progress(done=0, remaining=0)
            return 0
        self._ensure_queue_job_channel()
        slots = min(self._parallel_senders() * JOBS_PER_SENDER, math.ceil(due / chunk_size))
        for slot in range(slots):
            self._delay_run_job(slot, chunk_size)
        # Nothing left for the cron itself: the jobs drain the due set and queue their own successors.
        self.env["ir.cron"]._notify_progress(done=slots, remaining=0)
        return slots

    @api.model
    def _delay_run_job(self, slot, chunk_size):
        return self.with_delay(
            channel=QUEUE_JOB_CHANNEL,
            identity_key=f"sales_sequence_run_due_{slot}",
            description=_("Sales Sequences: run due steps (sender %(slot)s)", slot=slot + 1),
        )._job_run_due_chunk(slot, chunk_size)

    @api.model
    def _job_run_due_chunk(self, slot, chunk_size):
        """A queue_job job: lock one chunk of due enrollments (SKIP LOCKED, as the cron does), run it, and queue the
        next job of this slot when the chunk was full, all in the job's one transaction (queue_job forbids commits
        inside a job). A job killed mid-way leaves nothing of its chunk, its successor neither; queue_job queues it
        again and it runs the chunk once."""
        now = fields.Datetime.now()
        self = self.with_context(mail_notrack=True)  # noqa: PLW0642 - the whole job works in this context
        enrollments = self._lock_due(now, chunk_size)
        if not enrollments:
            return 0
        enrollments._run_due_step(now)._notify_blocked()
        if len(enrollments) >= chunk_size:
            self._delay_run_job(slot, chunk_size)
        return len(enrollments)
