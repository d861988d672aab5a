from odoo import _, api, fields, models
from odoo.exceptions import AccessError


class SalesSequence(models.Model):
    """Sequences a manager shares with the team: every Sequences User of the company reads them (record rule
    rule_sales_sequence_shared) and copies them into their own; only their owner and the managers edit them."""

    _inherit = "sales.sequence"

    shared = fields.Boolean(
        string="Shared with the Team",
        copy=False,
        tracking=True,
        help="Every salesperson of the company sees this sequence and copies it into their own with Copy to My "
        "Sequences; only its owner and the managers change it. Set by a Sequences Manager.",
    )
    is_mine = fields.Boolean(compute="_compute_is_mine")

    @api.depends_context("uid")
    def _compute_is_mine(self):
        for sequence in self:
            sequence.is_mine = sequence.user_id == self.env.user

    @api.model_create_multi
    def create(self, vals_list):
        if any(vals.get("shared") for vals in vals_list):
            self._check_can_share()
        return super().create(vals_list)

    def write(self, vals):
        if "shared" in vals:
            self._check_can_share()
        return super().write(vals)

    @api.model
    def _check_can_share(self):
        if not (self.env.su or self.env.user.has_group("sales_sequence.group_sales_sequence_manager")):
            raise AccessError(
                _(
                    "Shared with the Team: only a member of the group %(group)s shares a sequence with the team. "
                    "Ask your manager, or export the sequence.",
                    group=self.env.ref("sales_sequence.group_sales_sequence_manager").sudo().full_name,
                )
            )

    def copy_data(self, default=None):
        # A shared sequence copied by a salesperson becomes theirs, without the owner's audience (whom to enroll
        # is the new owner's choice, and another owner's audience lines are not theirs to read).
        default = dict(default or {})
        if len(self) == 1 and self.user_id != self.env.user and not self.env.su:
            default.setdefault("user_id", self.env.user.id)
            default.setdefault("audience_ids", [])
        return super().copy_data(default=default)

    def action_copy_to_mine(self):
        """A draft copy of this (shared) sequence, owned by the current user, opened in its form."""
        self.ensure_one()
        self.check_access("read")
        name = _("%(name)s (%(user)s)", name=self.name, user=self.env.user.name)
        copy = self.copy({"user_id": self.env.user.id, "audience_ids": [], "shared": False, "name": name})
        return {
            "type": "ir.actions.act_window",
            "res_model": self._name,
            "res_id": copy.id,
            "view_mode": "form",
            "target": "current",
        }
