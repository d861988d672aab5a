from odoo import fields, models
from odoo.tools import SQL


class SalesSequenceTouch(models.Model):
    """A step run for one enrollment. At most one per (enrollment, step): the database itself refuses a second
    send of a step, whatever path or worker attempts it.

    Touches are history, append-only: users read them, nobody but the engine (as superuser) writes them, and
    nothing deletes them, directly (no access right) or by cascade (an enrollment with touches cannot be deleted).
    The daily limit counts them, so no user can shrink a mailbox's count."""

    _name = "sales.sequence.touch"
    _description = "Sales Sequence Step Run"
    _order = "date desc, id desc"
    _rec_name = "subject"

    enrollment_id = fields.Many2one("sales.sequence.enrollment", required=True, index=True, ondelete="restrict")
    step_id = fields.Many2one("sales.sequence.step", index=True, ondelete="set null")
    sequence_id = fields.Many2one(related="enrollment_id.sequence_id", store=True, index=True)
    partner_id = fields.Many2one(related="enrollment_id.partner_id", string="Contact", store=True)
    user_id = fields.Many2one(related="enrollment_id.user_id", store=True)
    company_id = fields.Many2one(related="enrollment_id.company_id", store=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    mailbox = fields.Char(help="Normalized sender address, the unit of the daily limit.", index=True)
    subject = fields.Char()
    mail_message_id = fields.Many2one("mail.message", string="Message", index="btree_not_null", ondelete="set null")
    message_id = fields.Char(related="mail_message_id.message_id", string="Message-Id")

    _sql_constraints = [
        ("enrollment_step_uniq", "unique(enrollment_id, step_id)", "This step was already run for this enrollment."),
    ]

    def _count_sent_by_mailbox(self, mailbox, start, end):
        """Emails the mailbox sent in [start, end), across all sequences and companies."""
        self.flush_model(["mailbox", "date"])
        self.env.cr.execute(
            SQL(
                "SELECT count(*) FROM sales_sequence_touch WHERE mailbox = %s AND date >= %s AND date < %s",
                mailbox,
                start,
                end,
            )
        )
        return self.env.cr.fetchone()[0]
