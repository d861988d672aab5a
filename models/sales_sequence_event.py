from odoo import api, fields, models

EVENT_TYPES = [
    ("send", "Sent"),
    ("open", "Opened"),
    ("click", "Clicked"),
    ("reply", "Replied"),
    ("auto_reply", "Auto-reply"),
    ("bounce", "Bounced"),
    ("soft_bounce", "Soft bounce"),
    ("unsubscribe", "Unsubscribed"),
    ("send_failure", "Send failed"),
    ("skip", "Skipped"),
    ("pause", "Paused"),
    ("resume", "Resumed"),
]


class SalesSequenceEvent(models.Model):
    """What happened to an enrollment, one row per fact: the one source that timelines, metrics and step
    conditions read. Append-only history, like step runs: written by the engine, never edited or deleted by users."""

    _name = "sales.sequence.event"
    _description = "Sales Sequence Event"
    _order = "date desc, id desc"
    _rec_name = "event_type"

    enrollment_id = fields.Many2one("sales.sequence.enrollment", required=True, index=True, ondelete="restrict")
    sequence_id = fields.Many2one(related="enrollment_id.sequence_id", store=True, index=True)
    partner_id = fields.Many2one(related="enrollment_id.partner_id", string="Contact", store=True, index=True)
    user_id = fields.Many2one(related="enrollment_id.user_id", store=True)
    company_id = fields.Many2one(related="enrollment_id.company_id", store=True)
    step_id = fields.Many2one("sales.sequence.step", ondelete="set null")
    touch_id = fields.Many2one("sales.sequence.touch", string="Step Run", index="btree_not_null", ondelete="restrict")
    event_type = fields.Selection(EVENT_TYPES, string="Event", required=True, index=True)
    date = fields.Datetime(required=True, default=fields.Datetime.now, index=True)
    description = fields.Char()
    message_id = fields.Char(string="Message-Id", help="Message-Id of the inbound email this event comes from.")
    url = fields.Char(string="URL", help="The link clicked.")
    return_date = fields.Date(help="The return date an auto-reply states.")

    @api.model
    def _record(self, enrollments, event_type, description=False, step=None, **values):
        """One event per enrollment, in one create; `step` defaults to each enrollment's next step."""
        if not enrollments:
            return self.browse()
        # sudo: events are history only the engine writes; whoever triggered them (a reply's author, a visitor of
        # an unsubscribe page) gets nothing back.
        return self.sudo().create(
            [
                {
                    "enrollment_id": enrollment.id,
                    "event_type": event_type,
                    "description": description,
                    "step_id": (step if step is not None else enrollment.step_id).id,
                    **values,
                }
                for enrollment in enrollments
            ]
        )
