from odoo import _, fields, models
from odoo.exceptions import UserError
from odoo.tools import email_normalize

from ..lib.send_schedule import ScheduleError


class SalesSequence(models.Model):
    """What activation checks: the problems that keep a sequence from running (steps, sender, schedule, the
    owner's limit of active sequences), each naming the field and the fix, and the delivery warnings it says
    without blocking."""

    _inherit = "sales.sequence"

    def _get_activation_problems(self):
        """Every reason this sequence cannot run yet, in words that name the field and the fix."""
        self.ensure_one()
        problems = []
        if not self.step_ids:
            problems.append(_("Steps: add at least one step."))
        for step in self.step_ids:
            problems.extend(step._get_activation_problems())
        if self.sender_mode == "fixed" and not email_normalize(self.email_from or ""):
            problems.append(_("Send From: write the fixed sender address, or choose another Send As."))
        if not self._get_mailbox():
            problems.append(
                _(
                    "Send From: no sender address could be resolved. Fill 'Send From' or give the owner %(owner)s "
                    "an email address.",
                    owner=self.user_id.name,
                )
            )
        if not self.calendar_id:
            problems.append(_("Send Schedule: choose a working-hours calendar."))
        else:
            try:
                self._get_send_schedule().next_slot(fields.Datetime.now())
            except ScheduleError as error:
                problems.append(
                    _("Send Schedule '%(calendar)s': %(error)s", calendar=self.calendar_id.name, error=error)
                )
        return problems

    def _check_user_limit(self):
        """Settings > CRM > Sales Sequences: how many active sequences one user may own."""
        limit = int(self.env["ir.config_parameter"].sudo().get_param("sales_sequence.max_active_per_user", 0))
        if not limit:
            return
        for owner, sequences in self.grouped("user_id").items():
            # sudo: count the owner's active sequences whatever the current user may read; only a count leaves.
            already = self.sudo().search_count(
                [("user_id", "=", owner.id), ("state", "=", "active"), ("id", "not in", self.ids)]
            )
            if already + len(sequences) > limit:
                raise UserError(
                    _(
                        "Owner: %(owner)s already has %(count)s active sequence(s), and the limit is %(limit)s per "
                        "user (Settings > CRM > Sales Sequences). Pause one first, or raise the limit.",
                        owner=owner.name,
                        count=already,
                        limit=limit,
                    )
                )

    def _check_can_activate(self, resuming=False):
        """`resuming`: a paused sequence was active already, so the owner's limit of active sequences, meant for
        new ones, does not stop its resume."""
        if not resuming:
            self._check_user_limit()
        messages = []
        for sequence in self:
            problems = sequence._get_activation_problems()
            if problems:
                messages.append(
                    _("Sequence '%(name)s' cannot be activated:", name=sequence.name)
                    + "\n"
                    + "\n".join(f"- {problem}" for problem in problems)
                )
        if messages:
            raise UserError("\n\n".join(messages))

    def _delivery_warnings(self):
        """What would silently go wrong with the mail routing as configured, said at activation (not blocking):
        replies that cannot come back to Odoo, an owner's address Odoo's outgoing servers would replace."""
        self.ensure_one()
        warnings = []
        company = self.company_id.sudo()  # sudo: whether an alias domain exists, not its settings, is read
        if not company.alias_domain_id:
            warnings.append(
                _(
                    "%(sequence)s: no alias domain is set (Settings > General Settings > Alias Domain), so replies go "
                    "to the sender's own mailbox and cannot pause the sequence unless that mailbox is connected.",
                    sequence=self.name,
                )
            )
        sender = email_normalize(self._get_email_from() or "")
        if sender:
            # sudo: which server and address Odoo would use is what the owner learns, not the servers' settings.
            _server, smtp_from = self.env["ir.mail_server"].sudo()._find_mail_server(sender)
            if email_normalize(smtp_from or "") not in (sender, False):
                warnings.append(
                    _(
                        "%(sequence)s: no outgoing mail server accepts %(sender)s (its FROM filter), so Odoo sends as "
                        "%(used)s with your name. Ask an administrator to set a server for your address or domain.",
                        sequence=self.name,
                        sender=sender,
                        used=smtp_from,
                    )
                )
        return warnings
