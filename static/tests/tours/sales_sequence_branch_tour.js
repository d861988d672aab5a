/** @odoo-module */
import { registry } from "@web/core/registry";

// In the sequence form: turn the step "Decide" into a branch (replied? yes -> Thanks, no -> Nudge) and see it in
// the step list. (A step added at the bottom comes after its targets: a branch only goes forward.)
registry.category("web_tour.tours").add("sales_sequence_branch_tour", {
    steps: () => [
        {
            content: "Open the step Decide",
            trigger: ".o_field_widget[name=step_ids] .o_data_row:contains(Decide) td[name=name]",
            run: "click",
        },
        {
            content: "Name the branch",
            trigger: ".modal .o_field_widget[name=name] input",
            run: "edit Replied?",
        },
        {
            content: "Make it a branch",
            trigger: ".modal .o_field_widget[name=step_type] select",
            run: 'select "branch"',
        },
        {
            content: "If yes, go to Thanks",
            trigger: ".modal .o_field_widget[name=branch_yes_step_id] input",
            run: "edit Thanks",
        },
        {
            content: "Pick Thanks",
            trigger: ".o-autocomplete--dropdown-item:contains(Thanks)",
            run: "click",
        },
        {
            content: "If no, go to Nudge",
            trigger: ".modal .o_field_widget[name=branch_no_step_id] input",
            run: "edit Nudge",
        },
        {
            content: "Pick Nudge",
            trigger: ".o-autocomplete--dropdown-item:contains(Nudge)",
            run: "click",
        },
        {
            content: "Open the conditions",
            trigger: ".modal .nav-link:contains(Conditions)",
            run: "click",
        },
        {
            content: "Add the condition",
            trigger: ".modal .o_field_widget[name=condition_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Any earlier email replied",
            trigger: ".modal .o_field_widget[name=condition_ids] .o_data_row .o_field_widget[name=condition_type] select",
            run: 'select "any_replied"',
        },
        {
            content: "Save the branch",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Save the sequence",
            trigger: "body:not(:has(.modal)) .o_form_button_save",
            run: "click",
        },
        {
            content: "The sequence is saved",
            trigger: ".o_form_view .o_form_status_indicator_buttons.invisible:not(:visible)",
        },
        {
            content: "The step list shows the branch and its paths",
            trigger:
                ".o_field_widget[name=step_ids] .o_data_row:contains(Branch: Any earlier email replied yes -> Step 3 'Thanks', no -> Step 4 'Nudge')",
        },
    ],
});

// On the contact: open the sequence call's activity, pick its outcome and mark it done.
registry.category("web_tour.tours").add("sales_sequence_call_outcome_tour", {
    steps: () => [
        {
            content: "Edit the sequence call",
            trigger: ".o-mail-Activity:contains(Intro call) .o-mail-Activity-edit",
            run: "click",
        },
        {
            content: "Pick the outcome",
            trigger: ".modal .o_field_widget[name=sales_sequence_call_outcome_id] input",
            run: "edit Connected",
        },
        {
            content: "Connected",
            trigger: ".o-autocomplete--dropdown-item:contains(Connected)",
            run: "click",
        },
        {
            content: "Mark as done",
            trigger: ".modal button[name=action_done]",
            run: "click",
        },
        {
            content: "The call is done",
            trigger: "body:not(:has(.modal)):not(:has(.o-mail-Activity:contains(Intro call)))",
        },
    ],
});
