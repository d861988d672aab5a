from odoo import _, models
from odoo.tools import SQL

from .sales_sequence_enrollment import OPEN_STATES


class SalesSequence(models.Model):
    """Enrolling contacts: every contact given is either enrolled or refused with a reason, the built-in rules
    first (already in, blacklisted, no email, no sender), then the ruleset's; the refusals are recorded."""

    _inherit = "sales.sequence"

    def _enroll_partners(self, partners, source="manual", leads=None):
        """Enroll contacts; returns (enrollments, refusals) where refusals maps each refused partner to the reason.
        `leads` maps a partner to the opportunity it is enrolled from (the enrollment links it).

        Nothing is dropped silently: every partner given is either enrolled or refused with a reason, and every
        refusal is also recorded (sales.sequence.refusal, the sequence's "Not enrolled" list) with its rule.
        """
        self.ensure_one()
        refusals = self._builtin_refusals(partners)
        refusals.update(self.ruleset_id._refusals(self, partners.filtered(lambda p: p not in refusals)))
        self.env["sales.sequence.refusal"]._record(self, refusals, source)
        to_enroll = partners.filtered(lambda p: p not in refusals)
        leads = leads or {}
        enrollments = self.env["sales.sequence.enrollment"].create(
            [
                {
                    "sequence_id": self.id,
                    "partner_id": partner.id,
                    "lead_id": leads[partner].id if partner in leads else False,
                }
                for partner in to_enroll
            ]
        )
        if self.state == "active":
            enrollments._start()
        elif self.state == "paused":
            enrollments._pause_for_sequence()
        return enrollments, {partner: reason for partner, (_rule, reason, _exclusion) in refusals.items()}

    def _builtin_refusals(self, partners):
        """{partner: (rule, reason, None)}: already in, blacklisted, no or invalid email, in one query each. One SQL
        query first keeps the contacts no built-in rule can refuse out of the per-contact checks (an audience brings
        100,000 at once, nearly all of them fine)."""
        partners = self._builtin_suspects(partners)
        partners.fetch(["email", "email_normalized"])  # only what the rules read, not every field of a contact
        already_in = (
            self.env["sales.sequence.enrollment"]
            .search(
                [
                    ("sequence_id", "=", self.id),
                    ("partner_id", "in", partners.ids),
                    ("state", "in", OPEN_STATES),
                ]
            )
            .partner_id
        )
        blacklisted = self.env["sales.sequence.enrollment"]._blacklisted_emails(partners.mapped("email_normalized"))
        # The sender depends on the contact only when sending as the contact's salesperson.
        mailbox = self._get_mailbox() if self.sender_mode != "salesperson" else None
        refusals = {}
        for partner in partners:
            refusal = self._get_enrollment_refusal(partner, already_in, blacklisted, mailbox)
            if refusal:
                refusals[partner] = (*refusal, None)
        return refusals

    def _builtin_suspects(self, partners):
        """The partners (in their order) a built-in rule may refuse, found in one query: an open enrollment here, no
        or no valid email, a blacklisted address, a salesperson of their own (who may have no address) or no
        sender at all. A superset: `_get_enrollment_refusal` still decides for each of them."""
        if not partners:
            return partners
        no_sender = not self._get_mailbox()  # the owner's (or the fixed) address, every contact's fallback
        self.env.flush_all()
        self.env.cr.execute(
            SQL(
                """
                SELECT p.id FROM res_partner p
                 WHERE p.id = ANY(%(ids)s)
                   AND (%(no_sender)s
                        OR coalesce(p.email, '') = '' OR coalesce(p.email_normalized, '') = ''
                        OR (%(by_salesperson)s AND p.user_id IS NOT NULL)
                        OR EXISTS (SELECT 1 FROM mail_blacklist b WHERE b.active AND b.email = p.email_normalized)
                        OR EXISTS (SELECT 1 FROM sales_sequence_enrollment e
                                    WHERE e.sequence_id = %(sequence)s AND e.partner_id = p.id
                                      AND e.state IN %(open)s))
                """,
                ids=list(partners._ids),
                no_sender=no_sender,
                by_salesperson=self.sender_mode == "salesperson",
                sequence=self.id,
                open=OPEN_STATES,
            )
        )
        suspects = {row[0] for row in self.env.cr.fetchall()}
        return partners.browse([pid for pid in partners._ids if pid in suspects])

    def _get_enrollment_refusal(self, partner, already_in, blacklisted=(), mailbox=None):
        """(rule, reason) when a built-in rule refuses the partner, else False."""
        if partner in already_in:
            return "already_enrolled", _(
                "%(contact)s is already enrolled in this sequence.", contact=partner.display_name
            )
        if partner.email_normalized in blacklisted:
            return "blacklisted", _(
                "%(contact)s is on the blacklist (unsubscribed or blocked): %(email)s receives no sequence email.",
                contact=partner.display_name,
                email=partner.email_normalized,
            )
        if not partner.email:
            return "no_email", _(
                "%(contact)s has no email address: fill the contact's Email field.", contact=partner.display_name
            )
        if not partner.email_normalized:
            return "invalid_email", _(
                "%(contact)s has an invalid email address '%(email)s': correct the contact's Email field.",
                contact=partner.display_name,
                email=partner.email,
            )
        if not (mailbox if mailbox is not None else self._get_mailbox(partner)):
            return "no_sender", _(
                "No sender can be resolved for %(contact)s: give the sequence's owner an email address or set a "
                "fixed Send From.",
                contact=partner.display_name,
            )
        return False
