from odoo import _, fields, models


class SalesSequenceStepVariant(models.Model):
    """One version (A, B, ...) of an email step's subject and body. Each enrollment gets one, reproducibly; once
    a winner is picked on replies, only it is sent."""

    _name = "sales.sequence.step.variant"
    _description = "Sales Sequence Email Variant"
    _inherit = ["sales.sequence.render.mixin", "sales.sequence.guard.mixin"]
    _order = "id"
    _immutable_fields = ("step_id",)

    step_id = fields.Many2one("sales.sequence.step", required=True, index=True, ondelete="cascade")
    sequence_id = fields.Many2one(related="step_id.sequence_id", store=True, index=True)
    company_id = fields.Many2one(related="step_id.company_id", store=True)
    name = fields.Char(required=True, default=lambda self: _("Variant"))
    subject = fields.Char(translate=True)
    body_html = fields.Html(
        string="Body",
        translate=True,
        sanitize="email_outgoing",
        render_engine="qweb",
        render_options={"post_process": True},
    )
    sent_count = fields.Integer(string="Sent", compute="_compute_metrics")
    replied_count = fields.Integer(string="Replied", compute="_compute_metrics")
    opened_count = fields.Integer(string="Opened", compute="_compute_metrics")
    clicked_count = fields.Integer(string="Clicked", compute="_compute_metrics")
    reply_rate = fields.Float(string="Reply Rate (%)", compute="_compute_metrics", digits=(5, 1))
    is_winner = fields.Boolean(compute="_compute_metrics")
    won_count = fields.Integer(
        string="Opportunities Won",
        compute="_compute_won_count",
        help="Enrollments that received this variant and whose opportunity is won (what 'Winner On: Opportunities "
        "won' compares, per email sent).",
    )

    def _compute_metrics(self):
        stats = self.env["sales.sequence.touch"]._variant_stats(self._origin.ids)
        for variant in self:
            sent, replied, opened, clicked = stats.get(variant._origin.id, (0, 0, 0, 0))
            variant.sent_count = sent
            variant.replied_count = replied
            variant.opened_count = opened
            variant.clicked_count = clicked
            variant.reply_rate = 100.0 * replied / sent if sent else 0.0
            variant.is_winner = variant.step_id.winner_variant_id == variant

    def _compute_won_count(self):
        won = self.env["sales.sequence.enrollment"]._won_by_variant(self._origin.ids)
        for variant in self:
            variant.won_count = won.get(variant._origin.id, 0)

    def _get_activation_problems(self, label, reuses_subject):
        problems = []
        for variant in self:
            if not variant.subject and not reuses_subject:
                problems.append(
                    _("%(step)s, variant '%(variant)s': fill the Subject.", step=label, variant=variant.name)
                )
            body = variant.body_html or ""
            if not (body.striptags().strip() or "<img" in body):
                problems.append(_("%(step)s, variant '%(variant)s': write the Body.", step=label, variant=variant.name))
        return problems
