from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

from .sales_sequence_enrollment_senders import DEFAULT_PARALLEL_SENDERS, MAX_PARALLEL_SENDERS


class ResConfigSettings(models.TransientModel):
    _inherit = "res.config.settings"

    sales_sequence_max_active_per_user = fields.Integer(
        string="Active Sequences per User",
        config_parameter="sales_sequence.max_active_per_user",
        help="How many sequences one user may own while they are active. 0: no limit.",
    )
    sales_sequence_max_emails_per_user = fields.Integer(
        string="Sequence Emails per User per Day",
        config_parameter="sales_sequence.max_emails_per_user",
        help="How many sequence emails the sequences of one owner may send per day, all mailboxes together. "
        "0: no limit. The emails over it wait, queued, for the next day.",
    )
    sales_sequence_parallel_senders = fields.Integer(
        string="Parallel Senders",
        config_parameter="sales_sequence.parallel_senders",
        default=DEFAULT_PARALLEL_SENDERS,
        help="How many run jobs send the due steps at once (1 to 32), on all Odoo servers of this database "
        "together. Each is a scheduled action that one cron worker runs at a time, on whichever server is free; "
        "each server runs at most --max-cron-threads of them at once (cron workers in multi-process mode). "
        "So: parallel senders <= the sum of the cron threads of all servers, less the other scheduled actions' "
        "needs. With queue_job: the number of jobs queued on the channel root.sales_sequence at once.",
    )
    sales_sequence_use_queue_job = fields.Boolean(
        string="Run with queue_job",
        config_parameter="sales_sequence.use_queue_job",
        help="The run job only queues jobs (channel root.sales_sequence, one per parallel sender, each running "
        "one chunk of due enrollments) that the queue_job runners of all servers run. Needs the OCA module "
        "queue_job installed.",
    )
    sales_sequence_queue_job_installed = fields.Boolean(
        string="queue_job Installed", compute="_compute_sales_sequence_queue_job_installed"
    )

    def _compute_sales_sequence_queue_job_installed(self):
        self.sales_sequence_queue_job_installed = self.env["sales.sequence.enrollment"]._queue_job_installed()

    @api.constrains("sales_sequence_parallel_senders")
    def _check_sales_sequence_parallel_senders(self):
        for settings in self:
            if not 1 <= settings.sales_sequence_parallel_senders <= MAX_PARALLEL_SENDERS:
                raise ValidationError(
                    _(
                        "Parallel Senders must be between 1 and %(max)s (you entered %(value)s): set it to the "
                        "number of cron workers of all your Odoo servers that may send at once.",
                        max=MAX_PARALLEL_SENDERS,
                        value=settings.sales_sequence_parallel_senders,
                    )
                )

    @api.constrains("sales_sequence_use_queue_job")
    def _check_sales_sequence_use_queue_job(self):
        installed = self.env["sales.sequence.enrollment"]._queue_job_installed()
        if any(settings.sales_sequence_use_queue_job for settings in self) and not installed:
            raise ValidationError(
                _("Run with queue_job needs the queue_job module: install it (Apps) first, or untick the option.")
            )

    def set_values(self):
        Enrollment = self.env["sales.sequence.enrollment"]
        before = Enrollment._max_emails_per_user()
        result = super().set_values()
        if Enrollment._max_emails_per_user() != before:
            # What the old limit queued is evaluated again at the next slot, not on the day the old limit set.
            Enrollment._release_held_by_limit("user", [])
        Enrollment._sync_run_crons()
        if Enrollment._run_with_queue_job():
            Enrollment._ensure_queue_job_channel()
        return result
