from odoo import _, api, fields, models
from odoo.exceptions import AccessError, ValidationError

from ..lib import placeholders

# Bounds on what one field may hold, checked before anything parses it: a body of 20,000 placeholders would hold
# a worker for half a minute at every save and every send.
MAX_TEMPLATE_CHARS = 300_000
MAX_PLACEHOLDERS = 300
TEXT_FIELD_TYPES = ("char", "text", "html")


class SalesSequenceRenderMixin(models.AbstractModel):
    """Email content of a sequence (a step, an A/B variant), rendered like a mail.template on the contact, with one
    placeholder language: {{ object.field }} in the subject and in the body (stored and rendered as QWeb).

    Unlike mail.template the rendering is restricted (Odoo's default for the render mixin): the text may come from
    a salesperson who is not a Mail Template Editor. Such a user writes merge fields only (Odoo's regex renderer
    reads them, nothing is evaluated), checked on the raw text at every save and every translation; and the engine
    renders as the sequence's owner, never as superuser, so the owner's group and rights apply again at send time."""

    _name = "sales.sequence.render.mixin"
    _inherit = ["mail.render.mixin"]
    _description = "Sales Sequence Email Content"

    render_model = fields.Char(compute="_compute_render_model")

    def _compute_render_model(self):
        self.render_model = "res.partner"

    # ------------------------------------------------------------------
    # What a user may write
    # ------------------------------------------------------------------

    @api.model_create_multi
    def create(self, vals_list):
        return super().create([self._normalize_placeholders(dict(vals)) for vals in vals_list])

    def write(self, vals):
        return super().write(self._normalize_placeholders(dict(vals)))

    def _update_field_translations(self, fname, translations, digest=None, source_lang=None):
        for translation in translations.values():
            # Terms of an HTML field come as {source term: translated term}; a text field's as its whole value.
            values = translation.values() if isinstance(translation, dict) else [translation]
            for value in values:
                self._check_template_text({fname: value})
        return super()._update_field_translations(fname, translations, digest=digest, source_lang=source_lang)

    @api.model
    def _is_restricted_author(self):
        """Whether the current user writes merge fields only, as Odoo's restricted rendering decides."""
        return not (self.env.su or self.env.is_admin() or self.env.user.has_group("mail.group_mail_template_editor"))

    @api.model
    def _allowed_expressions(self):
        """The expressions restricted users may write: Odoo's list for contacts plus the addon's merge fields."""
        return self.env["res.partner"].with_context(sales_sequence_render=True).mail_allowed_qweb_expressions()

    def _check_template_text(self, vals):
        """Refuse, naming the field, text that is too large or that holds code its author may not write. Judged
        on the raw text: an HTML comment or a multi-line {{ }} is code all the same to whoever reads it later."""
        restricted = self._is_restricted_author()
        for fname, value in vals.items():
            field = self._fields.get(fname)
            if not field or field.type not in TEXT_FIELD_TYPES or not value or not isinstance(value, str):
                continue
            label = field.get_description(self.env)["string"]
            if len(value) > MAX_TEMPLATE_CHARS:
                raise ValidationError(
                    _(
                        "%(field)s is too long (%(size)s characters; at most %(max)s). Shorten it.",
                        field=label,
                        size=len(value),
                        max=MAX_TEMPLATE_CHARS,
                    )
                )
            if placeholders.placeholder_count(value) > MAX_PLACEHOLDERS:
                raise ValidationError(
                    _(
                        "%(field)s holds more than %(max)s placeholders. Remove some.",
                        field=label,
                        max=MAX_PLACEHOLDERS,
                    )
                )
            if restricted:
                forbidden = placeholders.forbidden_expressions(value, self._allowed_expressions())
                if forbidden:
                    raise AccessError(self._forbidden_message(label, forbidden))

    @api.model
    def _forbidden_message(self, label, forbidden):
        return _(
            "%(field)s: only members of the group %(group)s may write code in a template; %(found)s is not a merge "
            "field. Use merge fields such as {{ object.first_name ||| there }}: %(allowed)s.",
            field=label,
            group=self.env.ref("mail.group_mail_template_editor").sudo().name,
            found=", ".join(forbidden[:3]),
            allowed=", ".join(f"{{{{ {e} }}}}" for e in self._allowed_expressions() if e.startswith("object.")),
        )

    # ------------------------------------------------------------------
    # Rendering
    # ------------------------------------------------------------------

    def _render_lang(self, res_ids, engine="inline_template"):
        # Each contact reads the email in their own language. Read directly rather than through a
        # "{{ object.lang }}" template, which users outside mail.group_mail_template_editor may not save.
        return {partner.id: partner.lang for partner in self.env["res.partner"].browse(res_ids)}

    @api.model
    def _normalize_placeholders(self, vals):
        """Store {{ }} typed in the body as QWeb, which the editor shows as placeholders (once the text passed
        the checks: a huge text is refused before anything parses it)."""
        self._check_template_text(vals)
        for fname in ("subject", "sms_body"):
            if isinstance(vals.get(fname), str) and placeholders.DEFAULT_SEPARATOR in vals[fname]:
                vals[fname] = placeholders.trim_inline_defaults(vals[fname])
        if vals.get("body_html"):
            vals["body_html"] = placeholders.inline_to_qweb(vals["body_html"])
        return vals

    def _render_template(self, template_src, model, res_ids, engine="inline_template", add_context=None, options=None):
        # Whatever path wrote the body (translation, SQL, an older version), {{ }} renders in it.
        if engine == "qweb":
            template_src = placeholders.inline_to_qweb(template_src)
        # A copy of the options: Odoo's restricted renderer adds its flag to the dict it is given, which is the
        # field's own render_options, and every later rendering (unrestricted ones too) would then fail.
        return super(SalesSequenceRenderMixin, self.with_context(sales_sequence_render=True))._render_template(
            template_src, model, res_ids, engine=engine, add_context=add_context, options=dict(options or {})
        )

    @api.model
    def _has_unsafe_expression_template_qweb(self, template_src, model):
        # {{ }} becomes QWeb at rendering: judge what will run, not the text the user typed.
        return super(
            SalesSequenceRenderMixin, self.with_context(sales_sequence_render=True)
        )._has_unsafe_expression_template_qweb(placeholders.inline_to_qweb(template_src), model)
