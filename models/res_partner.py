from collections import defaultdict

from odoo import _, api, fields, models
from odoo.exceptions import RedirectWarning, UserError

from ..lib import placeholders
from .sales_sequence_enrollment import DUE_STATES, SENDING_STATES

LAST_CONTACTED_MODES = [
    ("not_contacted", "Not yet contacted"),
    ("no_reply", "No reply"),
    ("opened_no_reply", "Opened but no reply"),
    ("replied", "Replied"),
    ("outgoing_call", "Outgoing call"),
    ("sales_activity", "Sales activity"),
]


class ResPartner(models.Model):
    _inherit = "res.partner"

    # Merge fields: "Hi {{ object.first_name ||| there }}" reads these, for every user (see mail_allowed_qweb_...).
    first_name = fields.Char(compute="_compute_first_last_name")
    last_name = fields.Char(compute="_compute_first_last_name")
    # The sequence's owner, who sends, is not reachable from the contact: the step's rendering names them in its
    # context (sales_sequence_owner_id), so "{{ object.sequence_owner_name }}" stays a field Odoo's regex renderer
    # reads, never evaluated code.
    sequence_owner_name = fields.Char(compute="_compute_sequence_owner")
    sequence_owner_email = fields.Char(compute="_compute_sequence_owner")
    sequence_owner_phone = fields.Char(compute="_compute_sequence_owner")
    sequence_owner_signature = fields.Html(compute="_compute_sequence_owner", sanitize=False)

    sales_sequence_enrollment_ids = fields.One2many(
        "sales.sequence.enrollment",
        "partner_id",
        string="Sequence Enrollments",
        groups="sales_sequence.group_sales_sequence_user",
    )
    sales_sequence_enrollment_count = fields.Integer(
        compute="_compute_sales_sequence_enrollment_count", groups="sales_sequence.group_sales_sequence_user"
    )

    sales_sequence_paused_count = fields.Integer(
        compute="_compute_sales_sequence_enrollment_count", groups="sales_sequence.group_sales_sequence_user"
    )
    sales_sequence_running_count = fields.Integer(
        compute="_compute_sales_sequence_enrollment_count", groups="sales_sequence.group_sales_sequence_user"
    )
    sales_sequence_colleagues_count = fields.Integer(
        string="In Colleagues' Sequences",
        compute="_compute_sales_sequence_enrollment_count",
        groups="sales_sequence.group_sales_sequence_user",
        help="Running enrollments of this contact in sequences you cannot open (a colleague's): only the count.",
    )
    last_contacted_mode = fields.Selection(
        LAST_CONTACTED_MODES,
        default="not_contacted",
        readonly=True,
        index=True,
        help="What the last sales sequence touch with this contact gave: set by the sequences as they run.",
    )
    last_activity_type = fields.Selection(
        [("email", "Email"), ("sms", "SMS"), ("call", "Call"), ("task", "Task"), ("meeting", "Meeting")],
        readonly=True,
        index=True,
    )

    def _sales_sequence_enrollment_domain(self):
        """A contact's own enrollments; an account's (a company's) include those of its contacts."""
        return [("partner_id", "child_of", self.ids)]

    @api.depends_context("uid", "allowed_company_ids")
    def _compute_sales_sequence_enrollment_count(self):
        """Counts per contact from one grouped query; an account (a company) adds up the contacts under it."""
        members = {partner.id: {partner.id} for partner in self}
        for company in self.filtered("is_company"):
            members[company.id] = set(self.with_context(active_test=False)._search([("id", "child_of", company.id)]))
        groups = self.env["sales.sequence.enrollment"]._read_group(
            [("partner_id", "in", list(set().union(*members.values())))],
            ["partner_id", "state", "paused_by_sequence"],
            ["__count"],
        )
        totals = defaultdict(lambda: [0, 0, 0])  # contact id: [all, running, paused by a person or a reply]
        for contact, state, by_sequence, count in groups:
            figures = totals[contact.id]
            figures[0] += count
            figures[1] += count if state in DUE_STATES else 0
            figures[2] += count if state == "paused" and not by_sequence else 0
        running_anywhere = self._sales_sequence_running_anywhere(set().union(*members.values()))
        for partner in self:
            figures = [sum(totals[member][i] for member in members[partner.id]) for i in range(3)]
            partner.sales_sequence_enrollment_count = figures[0]
            partner.sales_sequence_running_count = figures[1]
            partner.sales_sequence_paused_count = figures[2]
            anywhere = sum(running_anywhere.get(member, 0) for member in members[partner.id])
            partner.sales_sequence_colleagues_count = max(anywhere - figures[1], 0)

    def _sales_sequence_running_anywhere(self, partner_ids):
        """{contact id: running enrollments in every sequence}, so a salesperson sees that a colleague already
        works the contact before starting a second cadence on them."""
        # sudo: only a count per contact the user can read leaves; nothing of the colleagues' sequences is shown.
        groups = (
            self.env["sales.sequence.enrollment"]
            .sudo()
            ._read_group(
                [("partner_id", "in", list(partner_ids)), ("state", "in", DUE_STATES)], ["partner_id"], ["__count"]
            )
        )
        return {contact.id: count for contact, count in groups}

    def action_resume_sales_sequences(self):
        """Resume the contact's (or the account's contacts') enrollments paused by a reply or by hand, in the
        sequences the user may run."""
        enrollments = self.env["sales.sequence.enrollment"].search(
            [*self._sales_sequence_enrollment_domain(), ("state", "=", "paused"), ("paused_by_sequence", "=", False)]
        )
        enrollments.action_resume()
        return True

    def action_pause_sales_sequences(self):
        """Pause the running enrollments of the contact (or of the account's contacts)."""
        enrollments = self.env["sales.sequence.enrollment"].search(
            [*self._sales_sequence_enrollment_domain(), ("state", "in", SENDING_STATES)]
        )
        enrollments.action_pause()
        return True

    @api.ondelete(at_uninstall=False)
    def _unlink_except_sequence_history(self):
        # sudo: whatever the user may read, a contact that sequences wrote to keeps that history; only the names
        # of the contacts being deleted leave in the message.
        enrollments = (
            self.env["sales.sequence.enrollment"]
            .sudo()
            .with_context(active_test=False)
            .search([("partner_id", "in", self.ids)])
        )
        contacted = enrollments._with_history().partner_id
        if not contacted:
            return
        names = ", ".join(contacted.sudo(False).mapped("display_name"))
        if not self.env.user.has_group("sales_sequence.group_sales_sequence_manager"):
            raise UserError(
                _(
                    "%(contacts)s received emails from sales sequences, and what was sent is kept for the "
                    "sequences' figures. Archive the contact instead, or ask a Sequence Manager to erase their "
                    "personal data (Actions > Erase Personal Data on the contact).",
                    contacts=names,
                )
            )
        # A deletion request is an erasure request: offer it (the figures stay, the person's data goes).
        action = self.env.ref("sales_sequence.action_sales_sequence_erase_wizard")
        raise RedirectWarning(
            _(
                "%(contacts)s received emails from sales sequences: deleting the contact would delete the "
                "sequences' figures with it. Erase their personal data instead: the contact is anonymised and "
                "archived, what was sent to them and received from them is deleted, the figures stay.",
                contacts=names,
            ),
            action.id,
            _("Erase Personal Data"),
            {
                "active_model": "res.partner",
                "active_ids": contacted.ids,
                "default_partner_ids": contacted.ids,
                "sales_sequence_erase_on_delete": True,
            },
        )

    def action_view_sales_sequence_enrollments(self):
        self.ensure_one()
        self.env["sales.sequence.enrollment"].check_access("read")
        action = self.env["ir.actions.act_window"]._for_xml_id("sales_sequence.action_sales_sequence_enrollment")
        action["domain"] = self._sales_sequence_enrollment_domain()
        action["context"] = {"default_partner_id": self.id}
        return action

    @api.depends("name", "is_company")
    def _compute_first_last_name(self):
        # OCA partner_firstname stores the two parts: use them where installed.
        stored = "firstname" in self._fields and "lastname" in self._fields
        for partner in self:
            if stored:
                partner.first_name, partner.last_name = partner.firstname or "", partner.lastname or ""
            elif partner.is_company or not partner.name:
                partner.first_name, partner.last_name = "", partner.name or ""
            else:
                first, _space, last = partner.name.strip().partition(" ")
                partner.first_name, partner.last_name = first, last.strip()

    @api.depends_context("sales_sequence_owner_id")
    def _compute_sequence_owner(self):
        # Read with the renderer's own rights (the owner in the cron): no sudo, a user shows what they may read.
        owner = self.env["res.users"].browse(self.env.context.get("sales_sequence_owner_id")).exists()
        for partner in self:
            partner.sequence_owner_name = owner.name or ""
            partner.sequence_owner_email = owner.email or ""
            partner.sequence_owner_phone = owner.phone or owner.mobile or ""
            partner.sequence_owner_signature = owner.signature or ""

    @api.model
    def mail_allowed_qweb_expressions(self):
        # In a sequence's content only: every user may write these merge fields, read by Odoo's restricted
        # (regex) renderer with the reader's rights. Elsewhere Odoo's own list stands.
        expressions = super().mail_allowed_qweb_expressions()
        if self.env.context.get("sales_sequence_render"):
            expressions += tuple(path for path, _label in placeholders.MERGE_FIELDS)
        return expressions
