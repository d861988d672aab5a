from odoo import api, fields, models

from ..lib import placeholders


class SalesSequenceRenderMixin(models.AbstractModel):
    """Email content of a sequence (a step, an A/B variant), rendered like a mail.template on the contact, with one
    placeholder language: {{ object.field }} in the subject and in the body (stored and rendered as QWeb)."""

    _name = "sales.sequence.render.mixin"
    _inherit = ["mail.render.mixin"]
    _description = "Sales Sequence Email Content"
    # Like mail.template: the cron renders the content later as superuser, so who may save dynamic code is checked
    # when it is written (mail.group_mail_template_editor), not when it is rendered.
    _unrestricted_rendering = True

    render_model = fields.Char(compute="_compute_render_model")

    def _compute_render_model(self):
        self.render_model = "res.partner"

    def _render_lang(self, res_ids, engine="inline_template"):
        # Each contact reads the email in their own language. Read directly rather than through a
        # "{{ object.lang }}" template, which users outside mail.group_mail_template_editor may not save.
        return {partner.id: partner.lang for partner in self.env["res.partner"].browse(res_ids)}

    @api.model
    def _normalize_placeholders(self, vals):
        """Store {{ }} typed in the body as QWeb, which the editor shows as placeholders."""
        if vals.get("body_html"):
            vals["body_html"] = placeholders.inline_to_qweb(vals["body_html"])
        return vals

    def _render_template(self, template_src, model, res_ids, engine="inline_template", add_context=None, options=None):
        # Whatever path wrote the body (translation, SQL, an older version), {{ }} renders in it.
        if engine == "qweb":
            template_src = placeholders.inline_to_qweb(template_src)
        return super()._render_template(
            template_src, model, res_ids, engine=engine, add_context=add_context, options=options
        )

    @api.model
    def _has_unsafe_expression_template_qweb(self, template_src, model):
        # {{ }} becomes QWeb at rendering: judge what will run, not the text the user typed.
        return super()._has_unsafe_expression_template_qweb(placeholders.inline_to_qweb(template_src), model)
