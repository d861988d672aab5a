from odoo import _, fields, models

ERASURE_SOURCES = [
    ("wizard", "Erase Personal Data"),
    ("contact_delete", "Delete of the contact"),
    ("privacy_lookup", "Privacy Lookup"),
]


class SalesSequenceErasure(models.Model):
    """The log of an erasure on request: who erased which contact (by id) when, and how many records went. It holds
    no personal data (no name, address or text of the person), so it can be kept as the proof of the erasure.
    Written by the erasure alone (as superuser), read by Sequence Managers, never edited or deleted."""

    _name = "sales.sequence.erasure"
    _description = "Sales Sequence: Personal Data Erasure"
    _order = "date desc, id desc"
    _rec_name = "contact_ref"

    # The contact's id as a number, not a link: the log must read the same whatever becomes of the contact.
    contact_ref = fields.Integer(string="Contact ID", required=True, readonly=True, index=True)
    user_id = fields.Many2one("res.users", string="Erased By", required=True, readonly=True, ondelete="restrict")
    date = fields.Datetime(required=True, readonly=True, default=fields.Datetime.now)
    source = fields.Selection(ERASURE_SOURCES, required=True, readonly=True, default="wizard")
    blacklisted = fields.Boolean(
        string="Email Blacklisted",
        readonly=True,
        help="The contact's address is on the email blacklist (kept, or added by the erasure), so that no import or "
        "sequence emails them again.",
    )
    enrollment_count = fields.Integer(string="Enrollments Anonymised", readonly=True)
    message_count = fields.Integer(string="Messages Deleted", readonly=True)
    mail_count = fields.Integer(string="Queued Emails Deleted", readonly=True)
    sms_count = fields.Integer(string="SMS Deleted", readonly=True)
    draft_count = fields.Integer(string="Drafts Deleted", readonly=True)
    history_count = fields.Integer(
        string="Step Runs and Events Cleared",
        readonly=True,
        help="Step runs and events kept for the metrics (dates, types, outcomes), their texts cleared.",
    )

    def _summary(self):
        """What went, in words, without any personal data."""
        self.ensure_one()
        return _(
            "Sales Sequences: contact #%(contact)s erased by %(user)s: %(enrollments)s enrollments anonymised, "
            "%(messages)s messages, %(mails)s emails, %(sms)s SMS and %(drafts)s drafts deleted, %(history)s step "
            "runs and events cleared; email blacklisted: %(blacklisted)s.",
            contact=self.contact_ref,
            user=self.user_id.name,
            enrollments=self.enrollment_count,
            messages=self.message_count,
            mails=self.mail_count,
            sms=self.sms_count,
            drafts=self.draft_count,
            history=self.history_count,
            blacklisted=_("yes") if self.blacklisted else _("no"),
        )

    def _post_privacy_log(self):
        """Odoo's register of privacy requests (Settings > Privacy Logs, privacy_lookup) lists the erasure too,
        under the contact's id: Odoo keeps a masked name and email there, this log keeps none."""
        if "privacy.log" not in self.env:
            return
        # sudo: the register is the administrators'; the erasing manager adds the line of their own erasure.
        values = []
        for log in self:
            values.append(
                {
                    "anonymized_name": _("Contact #%(id)s", id=log.contact_ref),
                    "anonymized_email": f"contact-{log.contact_ref}@erased.invalid",
                    "execution_details": log._summary(),
                    "records_description": _("Contact (res.partner): #%(id)s", id=log.contact_ref),
                    "user_id": log.user_id.id,
                }
            )
        self.env["privacy.log"].sudo().create(values)
