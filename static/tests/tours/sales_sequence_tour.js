/** @odoo-module */
import { registry } from "@web/core/registry";

// A salesperson builds a one-step sequence, activates it and enrolls a contact, all through the UI.
registry.category("web_tour.tours").add("sales_sequence_tour", {
    url: "/odoo/action-sales_sequence.action_sales_sequence",
    steps: () => [
        {
            content: "Create a sequence",
            trigger: ".o-kanban-button-new",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour sequence",
        },
        {
            content: "Add a step",
            trigger: ".o_field_widget[name=step_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            content: "Name the step",
            trigger: ".modal .o_field_widget[name=name] input",
            run: "edit Introduction",
        },
        {
            content: "Write the subject",
            trigger: ".modal .o_field_widget[name=subject] input",
            run: "edit Hello {{ object.name }}",
        },
        {
            content: "Write the body",
            trigger: ".modal .o_field_widget[name=body_html] .odoo-editor-editable",
            run: "editor Hello {{ object.name }}, nice to meet you.",
        },
        {
            content: "Save the step",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "The step is listed",
            trigger: ".o_field_widget[name=step_ids] .o_data_row:contains(Introduction)",
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
        {
            content: "Open the enroll wizard",
            trigger: ".o_statusbar_buttons button[name=action_open_enroll_wizard]",
            run: "click",
        },
        {
            content: "Look for the contact",
            trigger: ".modal .o_field_widget[name=partner_ids] input",
            run: "edit Tour Contact",
        },
        {
            content: "Pick the contact",
            trigger: ".o-autocomplete--dropdown-item:contains(Tour Contact)",
            run: "click",
        },
        {
            content: "The contact is chosen",
            trigger: ".modal .o_field_widget[name=partner_ids] .o_tag:contains(Tour Contact)",
        },
        {
            content: "Enroll",
            trigger: ".modal button[name=action_enroll]",
            run: "click",
        },
        {
            content: "The sequence now has one enrollment in progress",
            trigger: "body:not(:has(.modal)) .oe_stat_button:contains(In Progress) .o_stat_value:contains(1)",
        },
        {
            content: "Preview the step",
            trigger: ".o_field_widget[name=step_ids] .o_data_row:contains(Introduction) button[name=action_preview]",
            run: "click",
        },
        {
            content: "The preview shows the enrolled contact's email",
            // The body shows in a sandboxed iframe: a step's HTML never runs in the page.
            trigger: ".modal .o_field_widget[name=body_html] iframe:iframe body:contains(Hello Tour Contact):contains(nice to meet you)",
        },
        {
            content: "The subject is rendered too",
            trigger: ".modal .o_field_widget[name=subject]:contains(Hello Tour Contact)",
        },
        {
            content: "Send a test to me",
            trigger: ".modal button[name=action_send_test]",
            run: "click",
        },
        {
            content: "The test is confirmed",
            trigger: ".o_notification:contains(Test email queued)",
        },
        {
            content: "Close the preview",
            trigger: ".modal .modal-footer button:contains(Close)",
            run: "click",
        },
        {
            content: "Open the enrollments",
            trigger: ".oe_stat_button:contains(Enrolled)",
            run: "click",
        },
        {
            content: "The contact is listed, in progress",
            trigger: ".o_data_row:contains(Tour Contact):contains(In Progress)",
        },
    ],
});
