from odoo import _, api, fields, models

from .sales_sequence_enrollment import DUE_STATES, SENDING_STATES

# A write of these fields may win, lose or move the opportunity: its sequences' exit criteria are checked then.
EXIT_FIELDS = {"stage_id", "active", "probability"}


class CrmLead(models.Model):
    """Sequences from the pipeline: enroll an opportunity's (or lead's) contact, see and pause its enrollments from
    the opportunity, and end them when it is won, lost or moved (the exit criteria of each sequence)."""

    _inherit = "crm.lead"

    sales_sequence_enrollment_ids = fields.One2many(
        "sales.sequence.enrollment",
        "lead_id",
        string="Sequence Enrollments",
        groups="sales_sequence.group_sales_sequence_user",
    )
    sales_sequence_enrollment_count = fields.Integer(
        compute="_compute_sales_sequence_counts", groups="sales_sequence.group_sales_sequence_user"
    )
    sales_sequence_running_count = fields.Integer(
        compute="_compute_sales_sequence_counts", groups="sales_sequence.group_sales_sequence_user"
    )
    sales_sequence_paused_count = fields.Integer(
        compute="_compute_sales_sequence_counts", groups="sales_sequence.group_sales_sequence_user"
    )

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_sales_sequence_counts(self):
        """Counts of the enrollments the user may read (their record rules), in one grouped query."""
        groups = self.env["sales.sequence.enrollment"]._read_group(
            [("lead_id", "in", self.ids)], ["lead_id", "state", "paused_by_sequence"], ["__count"]
        )
        totals = {lead.id: [0, 0, 0] for lead in self}  # all, running, paused by a person or a reply
        for lead, state, by_sequence, count in groups:
            figures = totals[lead.id]
            figures[0] += count
            figures[1] += count if state in DUE_STATES else 0
            figures[2] += count if state == "paused" and not by_sequence else 0
        for lead in self:
            figures = totals.get(lead.id, [0, 0, 0])
            lead.sales_sequence_enrollment_count = figures[0]
            lead.sales_sequence_running_count = figures[1]
            lead.sales_sequence_paused_count = figures[2]

    def write(self, vals):
        result = super().write(vals)
        if EXIT_FIELDS & vals.keys():
            # sudo: an opportunity won, lost or moved ends the sequences on it whoever moved it (a colleague, a
            # manager, an automation); the criteria are the sequence owner's, its conditions searched as the owner.
            self.env["sales.sequence.enrollment"].sudo()._exit_on_lead_changes(self)
        return result

    def _sales_sequence_contacts(self):
        """{lead: its contact}; a lead without one gets it created from its details and linked, as Odoo's lead
        conversion does (`_handle_partner_assignment`). Only for leads the user may read."""
        self.check_access("read")
        self.filtered(lambda lead: not lead.partner_id)._handle_partner_assignment(create_missing=True)
        return {lead: lead.partner_id for lead in self}

    def action_enroll_in_sales_sequence(self):
        """The enroll wizard with these opportunities (from the form's button; the list's Actions menu binds it)."""
        self.check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enroll_wizard")
        action["context"] = {"active_model": "crm.lead", "active_ids": self.ids, "active_id": self[:1].id}
        action["name"] = _("Add to Sequence")
        return action

    def _sales_sequence_enrollment_domain(self):
        return [("lead_id", "in", self.ids)]

    def action_view_sales_sequence_enrollments(self):
        self.ensure_one()
        self.check_access("read")
        self.env["sales.sequence.enrollment"].check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = self._sales_sequence_enrollment_domain()
        action["context"] = {"default_lead_id": self.id, "default_partner_id": self.partner_id.id}
        return action

    def action_pause_sales_sequences(self):
        """Pause the running enrollments of the opportunity, in the sequences the user may run."""
        self.check_access("read")  # from an opportunity the user may open
        enrollments = self.env["sales.sequence.enrollment"].search(
            [*self._sales_sequence_enrollment_domain(), ("state", "in", SENDING_STATES)]
        )
        enrollments.action_pause()
        return True

    def action_resume_sales_sequences(self):
        """Resume the opportunity's enrollments paused by a reply or by hand, in the sequences the user may run."""
        self.check_access("read")  # from an opportunity the user may open
        enrollments = self.env["sales.sequence.enrollment"].search(
            [*self._sales_sequence_enrollment_domain(), ("state", "=", "paused"), ("paused_by_sequence", "=", False)]
        )
        enrollments.action_resume()
        return True
