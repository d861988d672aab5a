from odoo import _, models
from odoo.exceptions import UserError


class SalesSequenceGuardMixin(models.AbstractModel):
    """Write guards shared by the addon's models, so they hold whatever path writes (form, RPC, import, wizard).

    * Record rules judge a record as it is before a write. After the write, the record must also pass the rules
      as if the user had created it with its new values: nobody can re-point their own record at someone else's
      sequence, step or owner.
    * The many2one fields listed in `_immutable_fields` never change once the record exists.
    """

    _name = "sales.sequence.guard.mixin"
    _description = "Sales Sequence Write Guards"
    _immutable_fields = ()
    # The operation whose rules a written record must still pass: "create" where users create the records,
    # "write" where only the engine creates them (drafts).
    _guard_operation = "create"

    def write(self, vals):
        self._check_immutable_fields(vals)
        result = super().write(vals)
        if not self.env.su:
            self.check_access(self._guard_operation)
        return result

    def _check_immutable_fields(self, vals):
        """Refuse a change of any many2one listed in `_immutable_fields` (writing the same value is fine)."""
        for name in self._immutable_fields:
            if name in vals and any(record[name].id != (vals[name] or False) for record in self):
                raise UserError(self._immutable_field_message(self._fields[name]))

    def _immutable_field_message(self, field):
        return _(
            "%(field)s cannot be changed once the %(record)s exists.",
            field=field.get_description(self.env)["string"],
            record=self._description,
        )
