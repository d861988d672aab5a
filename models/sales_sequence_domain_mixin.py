from odoo import _, api, models
from odoo.exceptions import ValidationError
from odoo.tools.safe_eval import safe_eval


class SalesSequenceDomainMixin(models.AbstractModel):
    """Domains a user stores on contacts (exit conditions, audiences, exclusions, step conditions).

    A domain is a question about contacts. It is checked on save as the user who writes it and as the owner who
    will run it, and evaluated at run time as that owner, never as superuser: a domain can never answer, through an
    enrollment's state, a question its owner could not ask with their own search."""

    _name = "sales.sequence.domain.mixin"
    _description = "Sales Sequence Contact Conditions"

    @api.model
    def _parse_domain(self, text, user):
        """The domain stored as `text` (Odoo's domain editor writes Python literals; uid is the only name), as a
        list; [] for no text. Raises ValueError for anything that is not a list."""
        domain = safe_eval(text or "[]", {"uid": user.id})
        if not isinstance(domain, list | tuple):
            raise ValueError(_("a domain is a list of conditions, e.g. [('is_company', '=', False)]"))
        return list(domain)

    @api.model
    def _is_empty_domain(self, text):
        """No condition at all: the editor saves "[]" once a rule was added and removed, and "[]" never means
        "every contact" where a condition ends or excludes something."""
        try:
            return not self._parse_domain(text, self.env.user)
        except Exception:  # noqa: BLE001 - an unreadable domain is not empty: the save check names it
            return False

    @api.model
    def _partners_as(self, user):
        """res.partner as `user` in a search that counts every contact (archived too)."""
        return self.env["res.partner"].with_user(user).with_context(active_test=False)

    @api.model
    def _records_as(self, user, model="res.partner"):
        """`model` (contacts, or opportunities for the pipeline's conditions) as `user`, archived records too."""
        return self.env[model].with_user(user).with_context(active_test=False)

    @api.model
    def _check_domain_usable(self, text, users, label, model="res.partner"):
        """Raise a ValidationError naming `label` unless every user of `users` may run the domain `text` in a
        search of their own (rights, record rules, fields they may read) on `model`."""
        for user in users:
            try:
                domain = self._parse_domain(text, user)
                self._records_as(user, model).search_count(domain, limit=1)
            except Exception as error:  # noqa: BLE001 - any error means the conditions are unusable by that user
                raise ValidationError(
                    _(
                        "%(label)s: %(user)s cannot search contacts with these conditions (%(error)s). Edit them "
                        "with the condition editor, using fields %(user)s may read.",
                        label=label,
                        user=user.name,
                        error=str(error).split("\n", 1)[0],
                    )
                ) from error

    @api.model
    def _domain_checkers(self, owner):
        """Who must be able to run a domain: the user writing it (unless the engine writes) and its owner."""
        users = self.env["res.users"]
        if not self.env.su:
            users |= self.env.user
        return users | owner

    @api.model
    def _search_matching(self, text, user, partners):
        """The records among `partners` (contacts, or opportunities) that match the domain `text`, searched as
        `user` (with their rights)."""
        if not partners:
            return partners
        domain = self._parse_domain(text, user)
        found = self._records_as(user, partners._name).search([("id", "in", partners.ids), *domain])
        return partners.browse(found.ids)
