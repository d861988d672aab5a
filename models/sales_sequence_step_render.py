import re
from functools import reduce
from html import unescape as html_unescape

from odoo import _, models
from odoo.exceptions import UserError

from ..lib import placeholders

QWEB_NODE_EXPRESSION_RE = re.compile(r"""\bt-(?:out|esc|raw|att-[\w-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def render_error_chain(error):
    """The error and the errors it came from (QWeb and Odoo wrap the real cause), outermost first."""
    chain = [error]
    while len(chain) < 10:
        nxt = chain[-1].__cause__ or chain[-1].__context__
        if nxt is None or nxt in chain:
            break
        chain.append(nxt)
    return chain


def failing_expression(node):
    """The expression of the QWeb node a rendering failed on (QWebException.html), e.g. "object.ref.lower()"."""
    match = node and QWEB_NODE_EXPRESSION_RE.search(node)
    if not match:
        return None
    return html_unescape(match.group(1) if match.group(1) is not None else match.group(2)).strip()


def render_field_of(source, fname, partner_ids):
    """source._render_field, an error tagged with the field it came from (the explanation names it)."""
    # An HTML field without its own engine (a task's note) is a body all the same: rendered as QWeb.
    engine = "qweb" if source._fields[fname].type == "html" else "inline_template"
    try:
        return source._render_field(fname, partner_ids, engine=engine, compute_lang=True)
    except Exception as error:
        error.sales_sequence_field = fname
        raise


def guess_failing_expression(expressions, message):
    """The one expression the error message points at, read from the text alone: the only one there is, or the
    only one holding the attribute or key the message names ("... has no attribute 'lower'")."""
    if len(expressions) == 1:
        return expressions[0]
    named = re.findall(r"'([^']+)'", message)
    pointed = [e for e in expressions if any(re.search(rf"\b{re.escape(n)}\b", e) for n in named if n)]
    return pointed[0] if len(pointed) == 1 else None


def missing_field(model, path):
    """The first name of `path` (["parent_id", "name"]) that is not a field along it from `model`, else None."""
    for name in path:
        field = model._fields.get(name)
        if field is None:
            return name
        if not field.relational:
            return None
        model = model.env[field.comodel_name]
    return None


def first_line(error):
    return str(error).strip().split("\n", 1)[0]


class SalesSequenceStep(models.Model):
    """Rendering a step: its email (from the A/B variant, the template or its own text) and its SMS, in batch, as the
    user whose rights render it, never as superuser; a failed rendering explained from the error and the text alone;
    the preview; the placeholder problems activation reports."""

    _inherit = "sales.sequence.step"

    def _render_email(self, partner_ids, variant=None):
        """{partner_id: (subject, body)} from the A/B variant, the template or the step's own content, in batch,
        rendered with the rights of the current user (the sequence's owner in the cron)."""
        self.ensure_one()
        source = self._as_renderer_for(variant or self.mail_template_id or self)
        subjects = render_field_of(source, "subject", partner_ids)
        bodies = render_field_of(source, "body_html", partner_ids)
        return {pid: (subjects.get(pid) or "", bodies.get(pid) or "") for pid in partner_ids}

    def _render_activity(self, partner_ids):
        """{partner_id: (summary, note)} of a task or call step, merge fields rendered like an email's."""
        self.ensure_one()
        source = self._as_renderer_for(self)
        summaries = render_field_of(source, "activity_summary", partner_ids)
        notes = render_field_of(source, "activity_note", partner_ids) if self.activity_note else {}
        return {pid: ((summaries.get(pid) or "").strip(), notes.get(pid) or False) for pid in partner_ids}

    def _render_sms(self, partner_ids):
        """{partner_id: text} of the SMS step, in each contact's language."""
        self.ensure_one()
        texts = render_field_of(self._as_renderer_for(self), "sms_body", partner_ids)
        return {pid: (texts.get(pid) or "").strip() for pid in partner_ids}

    def _as_renderer_for(self, source):
        """`source` (this step, its variant or its template) as the user whose rights render it: the current user,
        or the sequence's owner when the engine runs as superuser (the cron). Nothing renders as superuser."""
        self.ensure_one()
        owner = self.sequence_id.user_id
        # The owner's merge fields ({{ object.sequence_owner_name }}) read the owner from this context.
        source = source.with_context(sales_sequence_owner_id=owner.id)
        if not source.env.su:
            return source
        return source.with_user(owner)  # with_user leaves superuser mode

    def _explain_render_error(self, partner, error, variant=None):
        """Why the step could not be rendered for `partner`, naming the step, the placeholder that broke and its
        cause, e.g. "Step 'Intro': placeholder {{ object.parent_id.name.lower() }} in the Body failed for Ann:
        'bool' object has no attribute 'lower'". Read from the error and the text alone: nothing the user wrote is
        evaluated to explain it."""
        self.ensure_one()
        source = variant or self.mail_template_id or self
        causes = render_error_chain(error)
        cause = causes[-1]
        fname = next((c.sales_sequence_field for c in causes if hasattr(c, "sales_sequence_field")), "body_html")
        label = source._fields[fname].get_description(self.env)["string"] if fname in source._fields else fname
        text = (source.with_context(lang=partner.lang)[fname] or "") if fname in source._fields else ""
        renderer = self._as_renderer_for(self).env.user
        restricted = not (renderer._is_admin() or renderer.has_group("mail.group_mail_template_editor"))
        forbidden = placeholders.forbidden_expressions(text, self._allowed_expressions()) if restricted else []
        if forbidden and source._name != "mail.template":
            return _(
                "Step '%(step)s': %(found)s in the %(field)s is not a merge field, and %(user)s is not in the group "
                "%(group)s, whose members alone may render code. Use merge fields only.",
                step=self.name,
                found=", ".join(forbidden[:3]),
                field=label,
                user=renderer.name,
                group=self.env.ref("mail.group_mail_template_editor").sudo().name,
            )
        node = next((c.html for c in causes if getattr(c, "html", None)), None)
        expression = failing_expression(node) or guess_failing_expression(
            placeholders.expressions(text, is_html=fname == "body_html"), str(cause)
        )
        if expression:
            return _(
                "Step '%(step)s': placeholder {{ %(placeholder)s }} in the %(field)s failed for %(contact)s: %(cause)s",
                step=self.name,
                placeholder=expression,
                field=label,
                contact=partner.display_name,
                cause=first_line(cause),
            )
        return _(
            "Step '%(step)s': the %(field)s could not be rendered for %(contact)s: %(cause)s",
            step=self.name,
            field=label,
            contact=partner.display_name,
            cause=first_line(cause),
        )

    def _merge_field_sources(self, variant=None):
        """[(record, field name)] of the step's own text that prints merge fields (an Email Template is the
        Template Editors' own, checked by Odoo)."""
        self.ensure_one()
        if self.step_type == "sms":
            return [(self, "sms_body")]
        if self.step_type in ("task", "call"):
            return [(self, "activity_summary"), (self, "activity_note")]
        if not variant and self.mail_template_id:
            return []
        source = variant or self
        return [(source, "subject"), (source, "body_html")]

    def _empty_merge_fields(self, partners, variant=None):
        """{partner id: why} for the contacts for whom a merge field written without a fallback is empty: the
        email would go with a hole ("I saw that  is growing"). Read as the user who renders, nothing evaluated."""
        self.ensure_one()
        labels = dict(placeholders.MERGE_FIELDS)
        holes = {}
        for source, fname in self._merge_field_sources(variant):
            field = source._fields[fname]
            for expression in placeholders.required_paths(source[fname] or "", is_html=field.type == "html"):
                readable = self._as_renderer_for(source).env["res.partner"].browse(partners.ids)
                for partner in readable:
                    if partner.id in holes:
                        continue
                    try:
                        value = reduce(lambda record, name: record[name], placeholders.field_path(expression), partner)
                    except Exception:  # noqa: BLE001 - a path that breaks is for the rendering to explain
                        continue
                    if value or value == 0 and not isinstance(value, bool):
                        continue
                    holes[partner.id] = _(
                        "Step '%(step)s': %(field)s is empty for %(contact)s: add a fallback %(token)s or fill it.",
                        step=self.name,
                        field=labels.get(expression) or self._path_label(expression),
                        contact=partner.display_name,
                        token=placeholders.merge_token(expression, placeholders.suggested_fallback(expression)),
                    )
        return holes

    def _path_label(self, expression):
        """'Country > Country Name' for object.country_id.name: the field labels along the path."""
        model, labels = self.env["res.partner"], []
        for name in placeholders.field_path(expression) or []:
            field = model._fields.get(name)
            if field is None:
                break
            labels.append(field.get_description(self.env)["string"])
            model = self.env[field.comodel_name] if field.relational else model
        return " > ".join(labels) or expression

    def _check_merge_fields(self, partner, variant=None):
        """UserError when a merge field without fallback is empty for `partner`: the preview and the test run say
        what the cron would hold."""
        hole = self._empty_merge_fields(partner, variant).get(partner.id)
        if hole:
            raise UserError(hole)

    def _render_for_preview(self, partner):
        """(subject, body) of this step for `partner` as the sequence would send it, a reply step answering the
        first step's subject; UserError naming the placeholder when it cannot be rendered."""
        self.ensure_one()
        self._check_merge_fields(partner)
        try:
            with self.env.cr.savepoint():
                subject, body = self._render_email(partner.ids)[partner.id]
                if self._reuses_thread_subject():
                    first = self.sequence_id.step_ids[:1]
                    first_subject = render_field_of(
                        first._as_renderer_for(first.mail_template_id or first), "subject", partner.ids
                    )[partner.id]
                    subject = "Re: {}".format(first_subject.removeprefix("Re: "))
        except Exception as error:  # noqa: BLE001 - the explanation replaces Odoo's template dump
            raise UserError(self._explain_render_error(partner, error)) from error
        return subject, body

    def _placeholder_problems(self, label):
        """What the cron would refuse in the step's own text, said at activation: a placeholder naming a field
        contacts do not have, or code the sequence's owner (who renders it) may not run."""
        self.ensure_one()
        owner = self.sequence_id.user_id
        owner_restricted = not (owner._is_admin() or owner.has_group("mail.group_mail_template_editor"))
        fnames = {"sms": ("sms_body",), "email": ("subject", "body_html"), "email_reminder": ("subject", "body_html")}
        sources = self.variant_ids or self if self.step_type != "sms" else self
        if self.mail_template_id and self.step_type != "sms":
            return []  # an Email Template is checked by Odoo when it is written, by a Mail Template Editor
        problems = []
        Partner = self.env["res.partner"]
        for source in sources:
            for fname in fnames.get(self.step_type, ()):
                text = source[fname] or ""
                for expression in placeholders.expressions(text, is_html=fname == "body_html"):
                    missing = missing_field(Partner, placeholders.field_path(expression) or [])
                    if missing:
                        problems.append(
                            _(
                                "%(step)s: placeholder {{ %(placeholder)s }} names '%(field)s', which contacts do "
                                "not have; choose a field with /field or remove it.",
                                step=label,
                                placeholder=expression,
                                field=missing,
                            )
                        )
                if owner_restricted:
                    forbidden = placeholders.forbidden_expressions(text, self._allowed_expressions())
                    if forbidden:
                        problems.append(
                            _(
                                "%(step)s: %(found)s is not a merge field, and the owner %(owner)s may not render "
                                "code. Use merge fields only, or give the owner the group %(group)s.",
                                step=label,
                                found=", ".join(forbidden[:3]),
                                owner=owner.name,
                                group=self.env.ref("mail.group_mail_template_editor").sudo().name,
                            )
                        )
        return problems
