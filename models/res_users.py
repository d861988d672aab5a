from odoo import _, api, models
from odoo.modules.module import get_module_icon


class ResUsers(models.Model):
    """The rep's day in Odoo's activity menu (the clock in the top bar): how many things wait on them in Sequences >
    Needs Attention, one click away. Odoo's menus have no counters; this menu is where Odoo users look for them."""

    _inherit = "res.users"

    @api.model
    def _get_activity_groups(self):
        groups = super()._get_activity_groups()
        if not self.env.user.has_group("sales_sequence.group_sales_sequence_user"):
            return groups
        counts = dict(
            self.env["sales.sequence.attention"]._read_group(
                [("user_id", "=", self.env.uid), ("due", "=", True)], ["kind"], ["__count"]
            )
        )
        total = sum(counts.values())
        if total:
            labels = dict(self.env["sales.sequence.attention"]._fields["kind"]._description_selection(self.env))
            groups.append(
                {
                    "id": self.env["ir.model"]._get_id("sales.sequence.attention"),
                    "type": "sales_sequence_attention",
                    "name": _("Sequences: %(count)s need attention", count=total),
                    "model": "sales.sequence.attention",
                    "icon": get_module_icon("sales_sequence"),
                    "view_type": "list",
                    "kinds": [{"label": labels[kind], "count": count} for kind, count in sorted(counts.items())],
                }
            )
        return groups
