from datetime import timedelta

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.tools import SQL

# The window the bounce rate is read over.
BOUNCE_WINDOW = timedelta(hours=24)


class SalesSequence(models.Model):
    """The safety rules a sequence obeys beside its daily limit: per-mailbox limits per hour and per minute (the
    run cron and the forecast both apply them, models/sales_sequence_enrollment_safety.py and lib/planner.py), and
    the bounce-rate hold of its first step (thresholds in the ruleset), which its owner releases."""

    _inherit = "sales.sequence"

    hourly_limit = fields.Integer(
        help="Emails one sending mailbox may send per clock hour (UTC), counted across all sequences, beside the "
        "daily limit. Over it, an email is queued to the next hour, never dropped. 0 means no limit.",
    )
    minute_limit = fields.Integer(
        string="Per-Minute Limit",
        help="Emails one sending mailbox may send per minute, counted across all sequences. Over it, an email is "
        "queued to the next minute. 0 means no limit.",
    )
    bounce_hold = fields.Boolean(
        string="First Step Held",
        readonly=True,
        copy=False,
        help="The bounce rate of the last 24 hours passed the rules' threshold: the first step waits until the "
        "owner releases it (later steps go on).",
    )
    bounce_hold_reason = fields.Char(readonly=True, copy=False)
    bounce_released_at = fields.Datetime(
        readonly=True, copy=False, help="The owner released the hold: bounces of emails sent before do not count."
    )
    bounce_warned_at = fields.Datetime(readonly=True, copy=False)

    _sql_constraints = [
        ("hourly_limit_positive", "CHECK(hourly_limit >= 0)", "The hourly limit cannot be negative."),
        ("minute_limit_positive", "CHECK(minute_limit >= 0)", "The per-minute limit cannot be negative."),
    ]

    def write(self, vals):
        result = super().write(vals)
        Enrollment = self.env["sales.sequence.enrollment"]
        for field, held_by in (("hourly_limit", "hour"), ("minute_limit", "minute")):
            if field in vals:
                Enrollment._release_held_by_limit(held_by, [("sequence_id", "in", self.ids)])
        return result

    # ------------------------------------------------------------------
    # Bounce rate of the last 24 hours
    # ------------------------------------------------------------------

    @api.model
    def _bounce_rates(self, now):
        """{sequence id: (emails sent, bounced)} over the last 24 hours (since the owner's release, if later), for
        the active sequences that sent emails then: one query."""
        self.env["sales.sequence.touch"].flush_model()
        self.env["sales.sequence.event"].flush_model(["touch_id", "event_type"])
        self.flush_model(["bounce_released_at", "state"])
        self.env.cr.execute(
            SQL(
                """
                SELECT t.sequence_id, count(*),
                       count(*) FILTER (WHERE EXISTS (SELECT 1 FROM sales_sequence_event ev
                                                       WHERE ev.touch_id = t.id AND ev.event_type = 'bounce'))
                  FROM sales_sequence_touch t
                  JOIN sales_sequence s ON s.id = t.sequence_id
                 WHERE t.date >= %s AND t.kind = 'email' AND t.failed IS NOT TRUE AND s.state = 'active'
                   AND (s.bounce_released_at IS NULL OR t.date > s.bounce_released_at)
              GROUP BY t.sequence_id
                """,
                now - BOUNCE_WINDOW,
            )
        )
        return {sequence_id: (sent, bounced) for sequence_id, sent, bounced in self.env.cr.fetchall()}

    @api.model
    def _apply_bounce_rules(self, now):
        """Once per run of the cron: hold the first step of the sequences whose 24 h bounce rate passed their
        rules' threshold, and warn (once a day) the owners of those past the warning level."""
        rates = self._bounce_rates(now)
        if not rates:
            return
        # sudo: the cron decides for every sequence, whoever runs it.
        for sequence in self.sudo().browse(list(rates)):
            sent, bounced = rates[sequence.id]
            rules = sequence.ruleset_id
            if sent < max(rules.bounce_min_sends, 1):
                continue
            rate = 100.0 * bounced / sent
            if rules.bounce_hold_rate and rate > rules.bounce_hold_rate:
                if not sequence.bounce_hold:
                    sequence._hold_first_step(rate, sent, bounced)
            elif rules.bounce_warning_rate and rate > rules.bounce_warning_rate:
                if not sequence.bounce_warned_at or sequence.bounce_warned_at <= now - timedelta(days=1):
                    sequence._warn_bounce_rate(rate, sent, bounced, now)

    def _hold_first_step(self, rate, sent, bounced):
        self.ensure_one()
        reason = _(
            "%(rate).1f%% of the emails sent in the last 24 hours bounced (%(bounced)s of %(sent)s), above the "
            "rules' %(limit)s%%: the first step is held. Clean the contacts' addresses, then release the hold.",
            rate=rate,
            bounced=bounced,
            sent=sent,
            limit=self.ruleset_id.bounce_hold_rate,
        )
        self.write({"bounce_hold": True, "bounce_hold_reason": reason})
        self._tell_owner(_("First step held: bounce rate"), reason)

    def _warn_bounce_rate(self, rate, sent, bounced, now):
        self.ensure_one()
        message = _(
            "%(rate).1f%% of the emails sent in the last 24 hours bounced (%(bounced)s of %(sent)s). Above "
            "%(limit)s%% the rules hold the sequence's first step: check the contacts' addresses.",
            rate=rate,
            bounced=bounced,
            sent=sent,
            limit=self.ruleset_id.bounce_hold_rate,
        )
        self.write({"bounce_warned_at": now})
        self._tell_owner(_("Bounce rate warning"), message)

    def _tell_owner(self, summary, message):
        """A note on the sequence and an activity for its owner."""
        self.message_post(body=Markup("<p>%s</p>") % message, subtype_xmlid="mail.mt_note")
        self.activity_schedule("mail.mail_activity_data_todo", summary=summary, note=message, user_id=self.user_id.id)

    def action_release_bounce_hold(self):
        """The owner cleaned the list: the first step goes again; earlier bounces no longer count."""
        self.check_access("write")
        held = self.filtered("bounce_hold")
        # sudo: the hold fields are the engine's (readonly); the user's right on the sequence was checked above.
        held.sudo().write(
            {"bounce_hold": False, "bounce_hold_reason": False, "bounce_released_at": fields.Datetime.now()}
        )
        for sequence in held:
            sequence.message_post(
                body=_("First step released by %(user)s.", user=self.env.user.name), subtype_xmlid="mail.mt_note"
            )
        self.env["sales.sequence.enrollment"]._release_held_by_limit("bounce", [("sequence_id", "in", held.ids)])
        return self._notify_done(_("The first step goes again."))
