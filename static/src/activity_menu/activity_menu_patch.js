import { ActivityMenu } from "@mail/core/web/activity_menu";
import { patch } from "@web/core/utils/patch";

// The "Sequences: N need attention" row of the activity menu opens Sequences > Needs Attention (the rep's own rows,
// due today, grouped by kind), not the activity list the other rows open.
patch(ActivityMenu.prototype, {
    openActivityGroup(group, filter = "all") {
        if (group.type === "sales_sequence_attention") {
            this.dropdown.close();
            this.action.doAction("sales_sequence.action_sales_sequence_attention", { clearBreadcrumbs: true });
            return;
        }
        return super.openActivityGroup(group, filter);
    },
});
