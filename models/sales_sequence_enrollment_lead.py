from collections import defaultdict

from markupsafe import Markup

from odoo import _, api, fields, models
from odoo.exceptions import AccessError
from odoo.tools import SQL

from ..lib.opportunities import LeadFacts, exit_criterion
from .sales_sequence_enrollment import OPEN_STATES, RUNNING_STATES


class SalesSequenceEnrollment(models.Model):
    """The enrollment's opportunity (crm.lead): who may link one, the exit criteria on it (won, lost, a stage, its
    conditions) checked before every step and when the opportunity changes, and the notes that replies and meetings
    leave on its chatter."""

    _inherit = "sales.sequence.enrollment"

    lead_id = fields.Many2one(
        "crm.lead",
        string="Opportunity",
        index="btree_not_null",
        ondelete="set null",
        help="The opportunity (or lead) the contact was enrolled from: its exit criteria and chatter follow it.",
    )

    @api.model_create_multi
    def create(self, vals_list):
        self._check_leads_readable({vals.get("lead_id") for vals in vals_list})
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("lead_id"):
            self._check_leads_readable({vals["lead_id"]})
        return super().write(vals)

    @api.model
    def _check_leads_readable(self, lead_ids):
        """Nobody links an opportunity they cannot read (the form, RPC, the wizard): the enrollment would show it
        and its changes would end the sequence. As `create` refuses contacts the user cannot read."""
        lead_ids = set(lead_ids) - {None, False}
        if self.env.su or not lead_ids:
            return
        leads = self.env["crm.lead"].browse(lead_ids).with_context(active_test=False)
        existing = leads.exists()
        refused = (leads - existing) | (existing - existing._filtered_access("read"))
        if refused:
            raise AccessError(
                _(
                    "Opportunity: you cannot read opportunity #%(id)s, so you cannot enroll from it. Choose an "
                    "opportunity you can open.",
                    id=refused[:1].id,
                )
            )

    # ------------------------------------------------------------------
    # Exit criteria on the opportunity
    # ------------------------------------------------------------------

    def _exit_by_criteria(self, sequence):
        remaining = super()._exit_by_criteria(sequence)
        return remaining - remaining._exit_for_leads()

    @api.model
    def _exit_on_lead_changes(self, leads):
        """The opportunities `leads` were won, lost or moved: end their open enrollments that meet an exit criterion
        of their sequence, in one search and one write per criterion."""
        if not leads:
            return
        self.search([("lead_id", "in", leads.ids), ("state", "in", OPEN_STATES)])._exit_for_leads()

    def _exit_for_leads(self):
        """End `completed` (with the criterion as reason and a timeline event) the open enrollments whose opportunity
        meets an exit criterion of their sequence. Returns those that may not go on: the ended ones, and those
        blocked because the owner can no longer run the conditions. One write per criterion, not per enrollment."""
        with_lead = self.filtered(lambda e: e.lead_id and e.state in OPEN_STATES)
        if not with_lead:
            return self.browse()
        # sudo: won, lost and the stage decide, whoever owns the opportunity; nothing of it is shown. The conditions
        # (a domain) are searched as the sequence's owner below.
        leads = with_lead.lead_id.sudo().with_context(active_test=False)
        leads.fetch(["active", "probability", "stage_id"])
        leads.stage_id.fetch(["sequence", "is_won"])
        by_criterion = defaultdict(lambda: self.browse())
        held = self.browse()
        for sequence, enrollments in with_lead.grouped("sequence_id").items():
            criteria = sequence._lead_exit_criteria()
            if not criteria:
                continue
            matching = set()
            if criteria.on_domain:
                try:
                    matching = set(sequence._leads_matching_exit_domain(enrollments.lead_id).ids)
                except Exception as error:  # noqa: BLE001 - the owner lost a right the domain needs: hold, say why
                    enrollments._block(
                        _(
                            "The opportunity exit conditions cannot be checked as the owner %(owner)s (%(error)s): "
                            "fix them in the sequence, then resume.",
                            owner=sequence.user_id.name,
                            error=str(error).split("\n", 1)[0],
                        )
                    )
                    held |= enrollments
                    continue
            for enrollment in enrollments:
                criterion = exit_criterion(self._lead_facts(enrollment.lead_id.sudo(), matching), criteria)
                if criterion:
                    by_criterion[criterion] |= enrollment
        reasons = self._lead_exit_reasons()
        for criterion, enrollments in by_criterion.items():
            self.env["sales.sequence.event"]._record(enrollments, "skip", reasons[criterion])
            enrollments._end("completed", reasons[criterion])
            held |= enrollments
        return held

    @api.model
    def _lead_facts(self, lead, matching_ids):
        return LeadFacts(
            won=bool(lead.active and lead.stage_id.is_won),
            lost=bool(not lead.active and not lead.probability),
            stage_id=lead.stage_id.id or None,
            stage_sequence=lead.stage_id.sequence if lead.stage_id else None,
            matches_domain=lead.id in matching_ids,
        )

    @api.model
    def _lead_exit_reasons(self):
        return {
            "won": _("Exit criterion met: the opportunity was won."),
            "lost": _("Exit criterion met: the opportunity was lost."),
            "stage": _("Exit criterion met: the opportunity reached the sequence's exit stage."),
            "domain": _("Exit criterion met: the opportunity matches the sequence's exit conditions."),
        }

    # ------------------------------------------------------------------
    # Audiences from the pipeline
    # ------------------------------------------------------------------

    def _link_audience_leads(self, lead_by_partner):
        """Link the enrollments an audience of opportunities brought to their opportunity, in one UPDATE (an
        audience brings thousands; the links were checked as the owner when the lines searched them)."""
        pairs = [(e.id, lead_by_partner[e.partner_id.id]) for e in self if e.partner_id.id in lead_by_partner]
        if not pairs:
            return
        self.flush_recordset(["lead_id"])
        self.env.cr.execute(
            SQL(
                "UPDATE sales_sequence_enrollment e SET lead_id = v.lead_id "
                "FROM unnest(%s::int[], %s::int[]) AS v(id, lead_id) WHERE e.id = v.id",
                [enrollment_id for enrollment_id, _lead in pairs],
                [lead_id for _enrollment, lead_id in pairs],
            )
        )
        self.invalidate_recordset(["lead_id"])

    # ------------------------------------------------------------------
    # Replies and meetings on the opportunity's chatter
    # ------------------------------------------------------------------

    def _on_reply(self, message_dict, threaded):
        super()._on_reply(message_dict, threaded)
        with_lead = self.filtered("lead_id")
        if not with_lead:
            return
        subject = message_dict.get("subject") or ""
        bodies = {}
        for enrollment in with_lead:  # one note per opportunity, naming the sequence that was answered
            bodies.setdefault(
                enrollment.lead_id.id,
                Markup("<p>%s</p><blockquote>%s</blockquote>")
                % (
                    _(
                        "%(contact)s replied to the sales sequence %(sequence)s: %(subject)s",
                        contact=enrollment.partner_id.display_name,
                        sequence=enrollment.sequence_id.name,
                        subject=subject,
                    ),
                    self._reply_snippet(message_dict),
                ),
            )
        # sudo: the mail gateway posts the note, whoever may write on the opportunity.
        self.env["crm.lead"].sudo().browse(list(bodies))._message_log_batch(bodies=bodies)

    @api.model
    def _link_meetings_to_leads(self, meetings):
        """A meeting booked with a contact running in a sequence from an opportunity joins that opportunity (its
        Opportunity field, and Odoo's meeting note on the opportunity's chatter), unless it already has one."""
        unlinked = meetings.filtered(lambda meeting: not meeting.opportunity_id)
        if not unlinked:
            return
        enrollments = self.search(
            [
                ("partner_id", "in", unlinked.partner_ids.ids),
                ("lead_id", "!=", False),
                ("state", "in", RUNNING_STATES),
            ],
            order="id desc",
        )
        lead_by_partner = {}
        for enrollment in enrollments:  # the latest enrollment of each contact
            lead_by_partner.setdefault(enrollment.partner_id.id, enrollment.lead_id)
        for meeting in unlinked:  # meetings are booked one or a few at a time
            lead = next((lead_by_partner[p.id] for p in meeting.partner_ids if p.id in lead_by_partner), None)
            if lead:
                # sudo: the engine links the meeting, whoever booked it (a colleague, an online booking).
                meeting.sudo().opportunity_id = lead
                lead.log_meeting(meeting)

    # ------------------------------------------------------------------
    # A/B variants judged by opportunities won
    # ------------------------------------------------------------------

    @api.model
    def _won_by_variant(self, variant_ids):
        """{variant id: enrollments that received it and whose opportunity is won}, in one query."""
        if not variant_ids:
            return {}
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT t.variant_id, count(DISTINCT t.enrollment_id)
                  FROM sales_sequence_touch t
                  JOIN sales_sequence_enrollment e ON e.id = t.enrollment_id
                  JOIN crm_lead l ON l.id = e.lead_id
                  JOIN crm_stage s ON s.id = l.stage_id
                 WHERE t.variant_id = ANY(%s) AND t.failed IS NOT TRUE AND l.active AND s.is_won
              GROUP BY t.variant_id
                """,
                list(variant_ids),
            )
        )
        return dict(self.env.cr.fetchall())
