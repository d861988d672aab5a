from odoo import _, api, fields, models
from odoo.exceptions import UserError

from ..models.sales_sequence_enrollment import OPEN_STATES


class SalesSequenceEnrollWizard(models.TransientModel):
    """Enroll contacts in a sequence, from the contact form, a selection of contacts, or the sequence itself.
    Every contact chosen is either enrolled or listed with the reason it was not; contacts already running in
    another sequence are pointed out before enrolling."""

    _name = "sales.sequence.enroll.wizard"
    _description = "Enroll Contacts in a Sequence"

    sequence_id = fields.Many2one("sales.sequence", domain="[('state', 'in', ('draft', 'active', 'paused'))]")
    partner_ids = fields.Many2many("res.partner", string="Contacts")
    # From the pipeline: each opportunity's contact is enrolled with the opportunity linked (created if missing).
    lead_ids = fields.Many2many("crm.lead", string="Opportunities")
    state = fields.Selection([("choose", "Choose"), ("done", "Done")], default="choose")
    other_sequences_warning = fields.Text(compute="_compute_other_sequences_warning")
    result_line_ids = fields.One2many("sales.sequence.enroll.wizard.line", "wizard_id", readonly=True)
    enrolled_count = fields.Integer(readonly=True)
    refused_count = fields.Integer(readonly=True)
    result_message = fields.Text(readonly=True)

    @api.model
    def default_get(self, fields_list):
        values = super().default_get(fields_list)
        context = self.env.context
        if (
            "partner_ids" in fields_list
            and not values.get("partner_ids")
            and context.get("active_model") == "res.partner"
        ):
            partner_ids = context.get("active_ids") or ([context["active_id"]] if context.get("active_id") else [])
            values["partner_ids"] = [fields.Command.set(partner_ids)]
        if "lead_ids" in fields_list and not values.get("lead_ids") and context.get("active_model") == "crm.lead":
            leads = self.env["crm.lead"].browse(
                context.get("active_ids") or ([context["active_id"]] if context.get("active_id") else [])
            )
            leads.check_access("read")
            values["lead_ids"] = [fields.Command.set(leads.ids)]
            # Their contacts, for the warning about other sequences; the missing ones are created at Enroll.
            values["partner_ids"] = [fields.Command.set(leads.partner_id.ids)]
        return values

    @api.depends("partner_ids", "sequence_id")
    def _compute_other_sequences_warning(self):
        for wizard in self:
            wizard.other_sequences_warning = wizard._get_other_sequences_warning()

    def _get_other_sequences_warning(self):
        """One line per chosen contact already running in another sequence, naming those sequences."""
        self.ensure_one()
        partners = self.partner_ids._origin
        if not partners:
            return False
        running = self.env["sales.sequence.enrollment"].search(
            [
                ("partner_id", "in", partners.ids),
                ("state", "in", OPEN_STATES),
                ("sequence_id", "!=", self.sequence_id._origin.id),
            ]
        )
        if not running:
            return False
        lines = []
        for partner, enrollments in running.grouped("partner_id").items():  # a loop: _() needs this frame
            lines.append(
                _(
                    "%(contact)s is already in %(sequences)s",
                    contact=partner.display_name,
                    sequences=", ".join(enrollments.sequence_id.mapped("name")),
                )
            )
        return "\n".join(lines)

    def action_enroll(self):
        self.ensure_one()
        if not self.sequence_id:
            raise UserError(_("Sequence: choose the sequence to enroll the contacts in."))
        if not self.partner_ids and not self.lead_ids:
            raise UserError(_("Contacts: choose at least one contact to enroll."))
        lead_by_partner = self._contacts_of_leads()
        warning = self._get_other_sequences_warning()
        enrollments, refusals = self.sequence_id._enroll_partners(
            self.partner_ids, source="bulk" if len(self.partner_ids) > 1 else "manual", leads=lead_by_partner
        )
        message = self._get_result_message(enrollments)
        self.write(
            {
                "state": "done",
                "enrolled_count": len(enrollments),
                "refused_count": len(refusals),
                "result_message": message,
                "result_line_ids": [
                    fields.Command.create({"partner_id": partner.id, "reason": reason})
                    for partner, reason in refusals.items()
                ],
            }
        )
        if refusals or warning or self.sequence_id.state != "active":
            return {
                "type": "ir.actions.act_window",
                "res_model": self._name,
                "res_id": self.id,
                "view_mode": "form",
                "target": "new",
                "name": _("Enrollment result"),
            }
        return {
            "type": "ir.actions.client",
            "tag": "display_notification",
            "params": {
                "type": "success",
                "message": message,
                "next": {"type": "ir.actions.act_window_close"},
            },
        }

    def _contacts_of_leads(self):
        """{contact: opportunity} for the chosen opportunities, their missing contacts created (as Odoo's lead
        conversion does) and added to the contacts; the first opportunity of a contact wins."""
        lead_by_partner = {}
        for lead, partner in self.lead_ids._sales_sequence_contacts().items():
            lead_by_partner.setdefault(partner, lead)
        if lead_by_partner:
            self.partner_ids |= self.env["res.partner"].union(*lead_by_partner)
        return lead_by_partner

    def _get_result_message(self, enrollments):
        """How many were enrolled and when they start, in the sequence's current state."""
        sequence = self.sequence_id
        enrolled = _(
            "%(count)s contact(s) enrolled in %(sequence)s, %(refused)s not enrolled.",
            count=len(enrollments),
            sequence=sequence.name,
            refused=len(self.partner_ids) - len(enrollments),
        )
        if not enrollments:
            return enrolled
        if sequence.state == "draft":
            return enrolled + " " + _("The sequence is a draft: nothing is sent until you activate it.")
        if sequence.state == "paused":
            return enrolled + " " + _("The sequence is paused: they start when you resume it.")
        first_run = min(enrollments.filtered("next_run_at").mapped("next_run_at"), default=False)
        if not first_run:
            return enrolled
        tz = self.env.user.tz or sequence.tz or "UTC"
        return (
            enrolled
            + " "
            + _(
                "Step 1 goes out from %(when)s (%(tz)s), inside the send schedule.",
                # The reader's own time (a Brussels user reads Brussels time), else the sequence's.
                when=fields.Datetime.context_timestamp(self.with_context(tz=tz), first_run).strftime("%Y-%m-%d %H:%M"),
                tz=tz,
            )
        )
