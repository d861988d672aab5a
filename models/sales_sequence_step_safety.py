from odoo import _, api, fields, models
from odoo.exceptions import ValidationError

# The step types that need a piece of the contact's data, and which.
NEEDS_DATA = {"email": "email", "email_reminder": "email", "sms": "mobile", "call": "phone"}


class SalesSequenceStep(models.Model):
    """What a step does when the contact lacks the data it needs (no email for an email, no valid mobile for an
    SMS, no phone for a call): hold the enrollment, skip the step, or (a call) run it anyway. The default is the
    behaviour before the option existed: emails and SMS hold, calls run."""

    _inherit = "sales.sequence.step"

    on_missing_data = fields.Selection(
        [
            ("hold", "Hold the enrollment"),
            ("skip", "Skip the step"),
            ("run", "Run it anyway"),
        ],
        string="When Data Is Missing",
        compute="_compute_on_missing_data",
        store=True,
        readonly=False,
        precompute=True,
        help="No email (email steps), no valid mobile (SMS), no phone (calls). Hold: the enrollment is blocked with "
        "the reason until the contact is fixed and it is resumed. Skip: the timeline says why and the sequence goes "
        "on with the next step. Run it anyway: a call task is created without a number.",
    )

    @api.depends("step_type")
    def _compute_on_missing_data(self):
        for step in self:
            if step.step_type not in NEEDS_DATA:
                step.on_missing_data = False
            elif step.step_type == "call":
                if step.on_missing_data not in ("hold", "skip", "run"):
                    step.on_missing_data = "run"
            elif step.on_missing_data not in ("hold", "skip"):
                step.on_missing_data = "hold"

    @api.constrains("on_missing_data", "step_type")
    def _check_on_missing_data(self):
        for step in self:
            if step.on_missing_data == "run" and step.step_type != "call":
                raise ValidationError(
                    _(
                        "When Data Is Missing: step '%(step)s' cannot run without the contact's data. Choose Hold "
                        "the enrollment or Skip the step.",
                        step=step.name,
                    )
                )
