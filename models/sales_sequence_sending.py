from odoo import Command, _, api, models
from odoo.exceptions import ValidationError
from odoo.tools import email_normalize

from ..lib.send_schedule import SendSchedule
from .company_default import company_default

# The default send schedule every company gets once: Monday to Friday, 09:00-17:00 in the sequence's timezone.
DEFAULT_CALENDAR_XMLID = "sales_sequence.resource_calendar_send_hours"
DEFAULT_CALENDAR_HOURS = (9.0, 17.0)


class SalesSequence(models.Model):
    """Who sends and when: the sender routing (owner, contact's salesperson, fixed address) and the mailbox the
    daily limit counts, the outgoing server only administrators choose, the send schedule built from the calendar
    (each company's default one included) and the owner's leave."""

    _inherit = "sales.sequence"

    # ------------------------------------------------------------------
    # Sender
    # ------------------------------------------------------------------

    def _get_email_from(self, partner=None):
        """The formatted sender of an email to `partner` under the sequence's sender routing."""
        self.ensure_one()
        if self.sender_mode == "fixed" and self.email_from:
            return self.email_from
        if self.sender_mode == "salesperson" and partner and partner.user_id.email:
            return partner.user_id.email_formatted
        return self.user_id.email_formatted or False

    def _get_author(self, partner=None):
        """The partner shown as the author of an email to `partner`."""
        self.ensure_one()
        if self.sender_mode == "salesperson" and partner and partner.user_id.email:
            return partner.user_id.partner_id
        return self.user_id.partner_id

    def _get_mailbox(self, partner=None):
        """The normalized sending address: the unit the daily limit counts per."""
        self.ensure_one()
        return email_normalize(self._get_email_from(partner) or "") or False

    @api.constrains("mail_server_id")
    def _check_mail_server(self):
        """Only a user who may read an outgoing mail server (Odoo: administrators) may route a sequence through it."""
        if self.env.is_superuser():
            return
        for sequence in self.filtered("mail_server_id"):
            if not sequence.mail_server_id.with_user(self.env.user).has_access("read"):
                raise ValidationError(
                    _(
                        "%(sequence)s, Outgoing Mail Server: only administrators choose a mail server. Leave it "
                        "empty: Odoo picks the server for the sender's address.",
                        sequence=sequence.name,
                    )
                )

    # ------------------------------------------------------------------
    # Send schedule and the owner's leave
    # ------------------------------------------------------------------

    @api.model
    def _get_default_calendar(self, company):
        """The company's default send schedule (Mon-Fri 09:00-17:00), created once per company as data."""
        return company_default(
            self.env,
            "resource.calendar",
            DEFAULT_CALENDAR_XMLID,
            company,
            lambda: self._get_default_calendar_values(company),
        )

    @api.model
    def _get_default_calendar_values(self, company):
        hour_from, hour_to = DEFAULT_CALENDAR_HOURS
        return {
            "name": _("Sequences: Monday-Friday 09:00-17:00"),
            "company_id": company.id,
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [
                Command.create(
                    {
                        "name": str(day),
                        "dayofweek": str(day),
                        "hour_from": hour_from,
                        "hour_to": hour_to,
                        "day_period": "morning",
                    }
                )
                for day in range(5)
            ],
        }

    def _get_send_schedule(self):
        """The pure-Python schedule built from the calendar: windows, timezone, excluded dates."""
        self.ensure_one()
        calendar = self.calendar_id
        windows = [
            (int(att.dayofweek), att.hour_from, att.hour_to)
            for att in calendar.attendance_ids
            if not att.display_type and att.day_period != "lunch" and att.hour_to > att.hour_from
        ]
        excluded = [(leave.date_from, leave.date_to) for leave in calendar.global_leave_ids]
        return SendSchedule(windows, tz=self.tz or calendar.tz or "UTC", excluded=excluded)

    def _owner_absent_until(self, now):
        """When the owner's current leave ends (their resource's leaves, time off included), else False."""
        self.ensure_one()
        # sudo: whether the owner is away, not what their leave is, decides; nothing of it is shown but the date.
        leaves = (
            self.env["resource.calendar.leaves"]
            .sudo()
            .search(
                [
                    ("resource_id.user_id", "=", self.user_id.id),
                    ("date_from", "<=", now),
                    ("date_to", ">", now),
                ]
            )
        )
        return max(leaves.mapped("date_to")) if leaves else False
