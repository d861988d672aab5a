/** @odoo-module */
import { registry } from "@web/core/registry";

// A salesperson on an opportunity: Add to Sequence, pick the sequence, enroll, and see the Sequences smart button
// count the enrollment; then the smart button lists it with its opportunity.
registry.category("web_tour.tours").add("sales_sequence_opportunity_tour", {
    steps: () => [
        {
            content: "The opportunity is not in any sequence yet",
            trigger: ".o_form_view:not(:has(.oe_stat_button:contains(Sequences)))",
        },
        {
            content: "Add it to a sequence",
            trigger: ".o_statusbar_buttons button[name=action_enroll_in_sales_sequence]",
            run: "click",
        },
        {
            content: "The wizard names the opportunity",
            trigger: ".modal .o_field_widget[name=lead_ids]:contains(Tour deal)",
        },
        {
            content: "Look for the sequence",
            trigger: ".modal .o_field_widget[name=sequence_id] input",
            run: "edit Pipeline tour",
        },
        {
            content: "Pick the sequence",
            trigger: ".o-autocomplete--dropdown-item:contains(Pipeline tour)",
            run: "click",
        },
        {
            content: "Enroll",
            trigger: ".modal button[name=action_enroll]",
            run: "click",
        },
        {
            content: "The enrollment is confirmed",
            trigger: ".o_notification:contains(1 contact(s) enrolled in Pipeline tour)",
        },
        {
            content: "The opportunity shows one sequence",
            trigger: "body:not(:has(.modal)) .oe_stat_button:contains(Sequences) .o_stat_value:contains(1)",
        },
        {
            content: "Open its enrollments",
            trigger: ".oe_stat_button[name=action_view_sales_sequence_enrollments]",
            run: "click",
        },
        {
            content: "The enrollment of the opportunity's contact, linked to the opportunity",
            trigger: ".o_data_row:contains(Tour Buyer):contains(Pipeline tour):contains(Tour deal)",
        },
    ],
});
