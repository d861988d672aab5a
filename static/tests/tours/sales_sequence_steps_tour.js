/** @odoo-module */
import { registry } from "@web/core/registry";

// A salesperson builds a sequence that asks before sending, with an email and a task step, and activates it.
registry.category("web_tour.tours").add("sales_sequence_steps_build_tour", {
    url: "/odoo/action-sales_sequence.action_sales_sequence",
    steps: () => [
        {
            content: "Create a sequence from the dashboard",
            trigger: ".o-kanban-button-new",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Approval tour",
        },
        {
            content: "Ask before sending",
            trigger: ".o_field_widget[name=require_approval] input",
            run: "click",
        },
        {
            content: "Add the email step",
            trigger: ".o_field_widget[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Name the email step",
            trigger: ".modal .o_field_widget[name=name] input",
            run: "edit Intro email",
        },
        {
            content: "Write the subject",
            trigger: ".modal .o_field_widget[name=subject] input",
            run: "edit Hello {{ object.name }}",
        },
        {
            content: "Write the body",
            trigger: ".modal .o_field_widget[name=body_html] .odoo-editor-editable",
            run: "editor Hello {{ object.name }}, a quick question.",
        },
        {
            content: "Save the email step",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Add the task step",
            trigger: "body:not(:has(.modal)) .o_field_widget[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Name the task step",
            trigger: ".modal .o_field_widget[name=name] input",
            run: "edit Call prep",
        },
        {
            content: "Make it a task",
            trigger: ".modal .o_field_widget[name=step_type] select",
            run: 'select "task"',
        },
        {
            content: "Say what the task is",
            trigger: ".modal .o_field_widget[name=activity_summary] input",
            run: "edit Prepare the call",
        },
        {
            content: "Save the task step",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Both steps are listed",
            trigger: "body:not(:has(.modal)) .o_field_widget[name=step_ids] .o_data_row:contains(Call prep)",
        },
        {
            content: "Save the sequence",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Activate it",
            trigger: ".o_statusbar_buttons button[name=action_activate]",
            run: "click",
        },
        {
            content: "It is active",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Active)",
        },
    ],
});

// From the contact's form: enroll the contact in the sequence.
registry.category("web_tour.tours").add("sales_sequence_steps_enroll_tour", {
    steps: () => [
        {
            content: "Open the contact's actions",
            trigger: ".o_form_view .o_cp_action_menus button",
            run: "click",
        },
        {
            content: "Enroll in a sequence",
            trigger: ".o-dropdown--menu .o-dropdown-item:contains(Enroll in Sequence)",
            run: "click",
        },
        {
            content: "Look for the sequence",
            trigger: ".modal .o_field_widget[name=sequence_id] input",
            run: "edit Approval tour",
        },
        {
            content: "Pick the sequence",
            trigger: ".o-autocomplete--dropdown-item:contains(Approval tour)",
            run: "click",
        },
        {
            content: "Enroll",
            trigger: ".modal button[name=action_enroll]",
            run: "click",
        },
        {
            content: "The enrollment is confirmed",
            trigger: ".o_notification:contains(1 contact(s) enrolled in Approval tour)",
        },
        {
            content: "The contact shows one sequence",
            trigger: "body:not(:has(.modal)) .oe_stat_button:contains(Sequences) .o_stat_value:contains(1)",
        },
    ],
});

// In Needs Attention: approve the drafted first email, then read the enrollment's timeline.
registry.category("web_tour.tours").add("sales_sequence_steps_approve_tour", {
    steps: () => [
        {
            content: "The drafted email waits for approval",
            trigger: ".o_data_row:contains(Tour Contact):contains(Hello Tour Contact)",
        },
        {
            content: "Open it",
            trigger: ".o_data_row:contains(Tour Contact) td[name=subject]",
            run: "click",
        },
        {
            content: "The draft is rendered for the contact",
            trigger: ".o_field_widget[name=body_html]:contains(Hello Tour Contact, a quick question)",
        },
        {
            content: "Approve it",
            trigger: ".o_statusbar_buttons button[name=action_approve]",
            run: "click",
        },
        {
            content: "It is approved",
            trigger: ".o_statusbar_status .o_arrow_button_current:contains(Approved)",
        },
        {
            content: "Open the enrollment",
            trigger: ".o_field_widget[name=enrollment_id] a",
            run: "click",
        },
        {
            content: "Open its timeline",
            trigger: ".o_notebook .nav-link:contains(Timeline)",
            run: "click",
        },
        {
            content: "The approval is on the timeline",
            trigger: ".o_field_widget[name=event_ids] .o_data_row:contains(Approved)",
        },
        {
            content: "The draft is on the timeline too",
            trigger: ".o_field_widget[name=event_ids] .o_data_row:contains(Waiting for approval)",
        },
    ],
});
