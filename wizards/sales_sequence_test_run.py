from markupsafe import Markup

from odoo import _, fields, models
from odoo.exceptions import UserError

from ..lib.planner import PlanEnrollment, plan
from ..lib.send_schedule import ScheduleError
from .sales_sequence_forecast import plan_steps


class SalesSequenceTestRun(models.TransientModel):
    """Test mode: every step of the sequence rendered for a test contact, with the date it would run, and nothing
    sent, enrolled or counted in the metrics."""

    _name = "sales.sequence.test.run"
    _description = "Sales Sequence Test Run"

    sequence_id = fields.Many2one("sales.sequence", required=True, ondelete="cascade", readonly=True)
    partner_id = fields.Many2one(
        "res.partner",
        string="Test Contact",
        required=True,
        default=lambda self: self.env.user.partner_id,
        help="Whose data fills the placeholders; nothing is sent to them.",
    )
    line_ids = fields.One2many("sales.sequence.test.run.line", "test_run_id", readonly=True)

    def action_run(self):
        self.ensure_one()
        self.sequence_id.check_access("read")
        self.line_ids.unlink()
        sequence = self.sequence_id
        steps = sequence.step_ids
        if not steps:
            raise UserError(_("Steps: add at least one step to test the sequence."))
        dates = self._planned_dates(sequence)
        values = []
        for step in steps:
            subject, body, text = self._render(step)
            values.append(
                {
                    "test_run_id": self.id,
                    "step_id": step.id,
                    "planned_at": dates.get(step.id),
                    "subject": subject,
                    "body_html": body,
                    "text": text,
                }
            )
        self.env["sales.sequence.test.run.line"].create(values)
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": self.id,
            "view_mode": "form",
            "target": "new",
            "name": _("Test Run of %(sequence)s", sequence=sequence.name),
        }

    def _planned_dates(self, sequence):
        try:
            schedule = sequence._get_send_schedule()
        except ScheduleError:
            return {}
        partner = self.partner_id
        tz = partner.tz if sequence.use_contact_tz and partner.tz else None
        planned = plan(
            [PlanEnrollment(-partner.id, 0, fields.Datetime.now(), tz=tz)],
            plan_steps(sequence),
            schedule,
            now=fields.Datetime.now(),
            randomize=sequence.randomize,
        )
        return {item.step_id: item.at for item in planned if item.at}

    def _render(self, step):
        """(subject, body, text) of the step for the test contact; a render error is shown, not raised."""
        partner = self.partner_id
        try:
            if step.step_type in ("email", "email_reminder"):
                variants = step.winner_variant_id or step.variant_ids
                if variants:
                    body_parts, subjects = [], []
                    for variant in variants:
                        step._check_merge_fields(partner, variant)
                        subject, body = step._render_email(partner.ids, variant)[partner.id]
                        subjects.append(f"[{variant.name}] {subject}")
                        body_parts.append(Markup("<h4>%s</h4>%s") % (variant.name, Markup(body)))
                    return " / ".join(subjects), Markup("<hr/>").join(body_parts), False
                subject, body = step._render_for_preview(partner)
                return subject, Markup(body), False
            step._check_merge_fields(partner)
            if step.step_type == "sms":
                no_mobile = self.env["sales.sequence.enrollment"]._sms_number_problem(partner)
                if no_mobile:
                    return _("Cannot be sent"), False, no_mobile
                return False, False, step._render_sms(partner.ids)[partner.id]
            summary, note = step._render_activity(partner.ids)[partner.id]
            return summary, note and Markup(note), False
        except UserError as error:
            return _("Cannot be rendered"), False, str(error)
        except Exception as error:  # noqa: BLE001 - the explanation is the test's result
            return _("Cannot be rendered"), False, step._explain_render_error(partner, error)


class SalesSequenceTestRunLine(models.TransientModel):
    _name = "sales.sequence.test.run.line"
    _description = "Sales Sequence Test Run Step"
    _order = "id"

    test_run_id = fields.Many2one("sales.sequence.test.run", required=True, ondelete="cascade")
    step_id = fields.Many2one("sales.sequence.step", readonly=True)
    step_type = fields.Selection(related="step_id.step_type")
    planned_at = fields.Datetime(string="Would Run On", readonly=True)
    subject = fields.Char(readonly=True)
    body_html = fields.Html(string="Content", readonly=True, sanitize=False)
    text = fields.Text(readonly=True)
