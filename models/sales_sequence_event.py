from odoo import api, fields, models
from odoo.tools import SQL

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
    ("sms", "SMS sent"),
    ("activity", "Activity created"),
    ("activity_done", "Activity done"),
    ("draft", "Waiting for approval"),
    ("approve", "Approved"),
    ("expire", "Draft expired"),
    ("reply_hold", "Held: the contact replied"),
    ("branch", "Branch taken"),
    ("close", "Closed after a reply"),
    ("safety_hold", "Held by a safety rule"),
]
# What an event says about the contact: (last contacted mode, last activity type), None keeping the current value.
# "open" and "click" only turn a "no reply" into "opened but no reply" (see _update_last_contacted).
CONTACT_EFFECTS = {
    "send": ("no_reply", "email"),
    "sms": ("no_reply", "sms"),
    "reply": ("replied", "email"),
}


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
    message_id = fields.Char(
        string="Message-Id",
        index="btree_not_null",  # the gateway looks every inbound message up: the same one never acts twice
        help="Message-Id of the inbound email this event comes from.",
    )
    url = fields.Char(string="URL", help="The link clicked.")
    return_date = fields.Date(help="The return date an auto-reply states.")
    call_outcome_id = fields.Many2one("sales.sequence.call.outcome", ondelete="restrict")
    by_sequence = fields.Boolean(help="A pause or resume of the whole sequence, not a person's on this enrollment.")

    @api.model
    def _last_replies(self, partners, since):
        """{partner: its latest reply event after `since`, in any sequence}, in one query."""
        if not partners:
            return {}
        # sudo: a reply in a colleague's sequence counts too; only its sequence's name and date are said.
        replies = self.sudo().search(
            [("partner_id", "in", partners.ids), ("event_type", "=", "reply"), ("date", ">", since)],
            order="date desc, id desc",
        )
        last = {}
        for reply in replies:
            last.setdefault(reply.partner_id, reply)
        return last

    @api.model
    def _record(self, enrollments, event_type, description=False, step=None, **values):
        """One event per enrollment, in one create; `step` defaults to each enrollment's next step."""
        if not enrollments:
            return self.browse()
        # sudo: events are history only the engine writes; whoever triggered them (a reply's author, a visitor of
        # an unsubscribe page) gets nothing back.
        events = self.sudo().create(
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
        self._update_last_contacted(enrollments.partner_id, event_type, step)
        return events

    @api.model
    def _update_last_contacted(self, partners, event_type, step=None):
        """Keep the contact's "last contacted mode" and "last activity type" in step with what just happened: one
        UPDATE for the whole batch (sudo by SQL: the engine's own fields, whoever triggered the event)."""
        if event_type in ("open", "click"):
            partners.flush_recordset(["last_contacted_mode"])
            self.env.cr.execute(
                SQL(
                    "UPDATE res_partner SET last_contacted_mode = 'opened_no_reply' "
                    "WHERE id = ANY(%s) AND last_contacted_mode = 'no_reply'",
                    partners.ids,
                )
            )
            partners.invalidate_recordset(["last_contacted_mode"])
            return
        if event_type == "activity_done" and step:
            effect = ("outgoing_call", "call") if step.step_type == "call" else ("sales_activity", "task")
        else:
            effect = CONTACT_EFFECTS.get(event_type)
        if not effect or not partners:
            return
        partners.flush_recordset(["last_contacted_mode", "last_activity_type"])
        self.env.cr.execute(
            SQL(
                "UPDATE res_partner SET last_contacted_mode = %s, last_activity_type = %s WHERE id = ANY(%s)",
                effect[0],
                effect[1],
                partners.ids,
            )
        )
        partners.invalidate_recordset(["last_contacted_mode", "last_activity_type"])
