from odoo import _, models
from odoo.exceptions import AccessError, UserError
from odoo.osv import expression
from odoo.tools import SQL

# The contact's own fields that hold personal data, cleared by an erasure (those of the installed addons).
PERSONAL_FIELDS = (
    "email",
    "phone",
    "mobile",
    "street",
    "street2",
    "city",
    "zip",
    "state_id",
    "country_id",
    "website",
    "comment",
    "function",
    "title",
    "vat",
    "ref",
    "company_name",
    "company_registry",
    "barcode",
    "image_1920",
    "parent_id",
    "category_id",
    "industry_id",
)
# Wizard lines of the addon that copy an address as typed (an import's rows): cleared with the contact.
TYPED_ADDRESS_LINES = (("sales.sequence.import.wizard.line", "value"),)


class ResPartner(models.Model):
    """Erasure on request ("Erase Personal Data"): the person's data goes, from the contact and from everything the
    sequences hold of them, while the sequences' figures stay. The contact row itself stays, anonymised and
    archived: enrollments, step runs and the report hang on it (a deleted contact would take the metrics' rows with
    it). See the README, "Personal data"."""

    _inherit = "res.partner"

    def _sales_sequence_check_erasable(self):
        """Sequence Managers erase (any contact they may edit); a person only, never a user of the database."""
        if not self.env.su and not self.env.user.has_group("sales_sequence.group_sales_sequence_manager"):
            raise AccessError(
                _(
                    "Erase Personal Data: only Sequence Managers erase a contact. Ask one of them, or archive the "
                    "contact instead."
                )
            )
        self.check_access("write")
        companies = self.filtered("is_company")
        if companies:
            raise UserError(
                _(
                    "Erase Personal Data is for a person: %(companies)s is a company. Erase its contacts one by one, "
                    "then archive the company.",
                    companies=", ".join(companies.mapped("display_name")),
                )
            )
        # sudo: whether a user of the database is this contact, whatever the erasing manager may read of users.
        users = self.env["res.users"].sudo().with_context(active_test=False)
        with_user = users.search([("partner_id", "in", self.ids)])
        if with_user:
            raise UserError(
                _(
                    "Erase Personal Data: %(contacts)s is a user of this database. Delete or archive the user first "
                    "(Settings > Users), then erase the contact.",
                    contacts=", ".join(with_user.partner_id.sudo(False).mapped("display_name")),
                )
            )

    def _sales_sequence_erase(self, source="wizard"):
        """Erase these contacts' personal data; returns the erasure logs (one per contact)."""
        self._sales_sequence_check_erasable()
        logs = self.env["sales.sequence.erasure"]
        for partner in self:
            # sudo: the erasure must reach every row of the person (colleagues' sequences, Odoo's technical mail
            # and SMS tables); the right to erase was checked above, and the log names the user who asked.
            logs |= partner.sudo()._sales_sequence_erase_one(source)
        return logs.sudo(False)

    def _sales_sequence_erase_one(self, source):
        self.ensure_one()
        partner = self.with_context(active_test=False, tracking_disable=True, mail_notrack=True)
        email = self.email_normalized
        phones = [phone for phone in {self.phone, self.mobile, self.phone_sanitized} if phone]
        enrollments = (
            self.env["sales.sequence.enrollment"].with_context(active_test=False).search([("partner_id", "=", self.id)])
        )
        counts = enrollments._erase_personal_data() if enrollments else {}
        self.env["sales.sequence.refusal"].search([("partner_id", "=", self.id)]).write(
            {"reason": _("Personal data erased on request.")}
        )
        self.env["mail.activity"].search([("res_model", "=", "res.partner"), ("res_id", "=", self.id)]).unlink()
        own = enrollments._erase_thread_messages({"res.partner": self.ids})
        others = self._sales_sequence_erase_mail_traces(email)
        for key in ("messages", "mails"):
            counts[key] = counts.get(key, 0) + own[key] + others[key]
        sms = self.env["sms.sms"].search(["|", ("partner_id", "=", self.id), ("number", "in", phones)])
        counts["sms"] = counts.get("sms", 0) + len(sms)
        sms.unlink()
        self._sales_sequence_erase_wizard_lines(email)
        blacklisted = bool(email)
        if email:
            # The address stays in one place only: Odoo's blacklist, so that no import or sequence mails them again.
            self.env["mail.blacklist"]._add(email)
        self.bank_ids.unlink()
        values = {name: False for name in PERSONAL_FIELDS if name in self._fields}
        partner.write({**values, "name": _("Erased contact #%(id)s", id=self.id), "active": False})
        self._sales_sequence_erase_tracked_names()
        log = self.env["sales.sequence.erasure"].create(
            {
                "contact_ref": self.id,
                "user_id": self.env.uid,
                "source": source,
                "blacklisted": blacklisted,
                "enrollment_count": counts.get("enrollments", 0),
                "message_count": counts.get("messages", 0),
                "mail_count": counts.get("mails", 0),
                "sms_count": counts.get("sms", 0),
                "draft_count": counts.get("drafts", 0),
                "history_count": counts.get("history", 0),
            }
        )
        if source != "privacy_lookup":
            log._post_privacy_log()
        return log

    def _sales_sequence_erase_mail_traces(self, email):
        """The person's traces in Odoo's mail tables outside the erased threads: messages they wrote (replies,
        inbound emails, wherever they were routed), emails queued to them, their notifications and followings,
        and their place among the recipients of other documents' messages."""
        authored = [("author_id", "=", self.id)]
        if email:
            authored = expression.OR(
                [authored, [("email_from", "=ilike", email)], [("email_from", "=ilike", f"%<{email}>")]]
            )
        messages = self.env["mail.message"].search(authored)
        to_them = [("recipient_ids", "in", self.ids), ("mail_message_id", "in", messages.ids)]
        if email:
            to_them.append(("email_to", "ilike", email))
        mails = self.env["mail.mail"].search(expression.OR([[leaf] for leaf in to_them]))
        counts = {"messages": len(messages), "mails": len(mails)}
        mails.unlink()
        messages.exists().unlink()
        self.env["mail.notification"].search([("res_partner_id", "=", self.id)]).unlink()
        self.env["mail.followers"].search([("partner_id", "=", self.id)]).unlink()
        self.env.flush_all()
        self.env.cr.execute(SQL("DELETE FROM mail_message_res_partner_rel WHERE res_partner_id = %s", self.id))
        self.env["mail.message"].invalidate_model(["partner_ids"])
        return counts

    def _sales_sequence_erase_tracked_names(self):
        """Tracking values elsewhere that name the contact (a "Contact" field changed on a lead, ...) show the
        anonymised name: Odoo stores the name of a many2one beside its id."""
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                UPDATE mail_tracking_value v
                   SET old_value_char = CASE WHEN v.old_value_integer = %(id)s THEN %(name)s ELSE v.old_value_char END,
                       new_value_char = CASE WHEN v.new_value_integer = %(id)s THEN %(name)s ELSE v.new_value_char END
                  FROM ir_model_fields f
                 WHERE f.id = v.field_id AND f.relation = 'res.partner' AND f.ttype = 'many2one'
                   AND (v.old_value_integer = %(id)s OR v.new_value_integer = %(id)s)
                """,
                id=self.id,
                name=self.name,
            )
        )
        self.env["mail.tracking.value"].invalidate_model(["old_value_char", "new_value_char"])

    def _sales_sequence_erase_wizard_lines(self, email):
        """Wizard rows of the addon still holding the contact (Odoo empties them within hours, an erasure now)."""
        for model_name in self.env:
            model = self.env[model_name]
            if not (model_name.startswith("sales.sequence.") and model._transient):
                continue
            links = [
                name
                for name, field in model._fields.items()
                if field.type == "many2one" and field.comodel_name == "res.partner" and field.store
            ]
            if links:
                model.search(expression.OR([[(name, "=", self.id)] for name in links])).unlink()
        for model_name, field_name in TYPED_ADDRESS_LINES:
            if email and model_name in self.env:
                self.env[model_name].search([(field_name, "=ilike", email)]).unlink()
