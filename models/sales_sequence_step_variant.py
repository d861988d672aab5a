from odoo import _, api, fields, models

from ..lib import placeholders


class SalesSequenceStepVariant(models.Model):
    """One version (A, B, ...) of an email step's subject and body. Each enrollment gets one, reproducibly; once
    a winner is picked on replies, only it is sent."""

    _name = "sales.sequence.step.variant"
    _description = "Sales Sequence Email Variant"
    _inherit = ["mail.render.mixin", "sales.sequence.guard.mixin"]
    _order = "id"
    # Rendered by the cron as superuser, like the step itself: authoring rights are checked when it is written.
    _unrestricted_rendering = True
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
    render_model = fields.Char(compute="_compute_render_model")
    sent_count = fields.Integer(string="Sent", compute="_compute_metrics")
    replied_count = fields.Integer(string="Replied", compute="_compute_metrics")
    opened_count = fields.Integer(string="Opened", compute="_compute_metrics")
    clicked_count = fields.Integer(string="Clicked", compute="_compute_metrics")
    reply_rate = fields.Float(string="Reply Rate (%)", compute="_compute_metrics", digits=(5, 1))
    is_winner = fields.Boolean(compute="_compute_metrics")

    def _compute_render_model(self):
        self.render_model = "res.partner"

    def _render_lang(self, res_ids, engine="inline_template"):
        return {partner.id: partner.lang for partner in self.env["res.partner"].browse(res_ids)}

    def _render_template(self, template_src, model, res_ids, engine="inline_template", add_context=None, options=None):
        if engine == "qweb":
            template_src = placeholders.inline_to_qweb(template_src)
        return super()._render_template(
            template_src, model, res_ids, engine=engine, add_context=add_context, options=options
        )

    @api.model
    def _has_unsafe_expression_template_qweb(self, template_src, model):
        return super()._has_unsafe_expression_template_qweb(placeholders.inline_to_qweb(template_src), model)

    @api.model_create_multi
    def create(self, vals_list):
        for vals in vals_list:
            if vals.get("body_html"):
                vals["body_html"] = placeholders.inline_to_qweb(vals["body_html"])
        return super().create(vals_list)

    def write(self, vals):
        if vals.get("body_html"):
            vals = dict(vals, body_html=placeholders.inline_to_qweb(vals["body_html"]))
        return super().write(vals)

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
