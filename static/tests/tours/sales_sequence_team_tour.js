/** @odoo-module */
import { registry } from "@web/core/registry";

// A manager shares a sequence with the team and opens the Monday report.
registry.category("web_tour.tours").add("sales_sequence_manager_tour", {
    url: "/odoo/action-sales_sequence.action_sales_sequence",
    steps: () => [
        {
            content: "Open the team's playbook",
            trigger: ".o_kanban_record:contains(Team playbook)",
            run: "click",
        },
        {
            content: "Share it with the team",
            trigger: ".o_field_widget[name=shared] input",
            run: "click",
        },
        {
            content: "Save",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "The sequence shows it is shared",
            trigger: ".o_form_saved .ribbon:contains(Shared)",
        },
        {
            content: "Open Sequences > Reporting",
            trigger: ".o_menu_sections button:contains(Sequences), .o_menu_sections a:contains(Sequences)",
            run: "click",
        },
        {
            content: "Funnel by Sequence and Step",
            trigger: ".dropdown-item:contains(Funnel by Sequence and Step)",
            run: "click",
        },
        {
            content: "The pivot lists the sequence with its funnel and reply rate",
            trigger: ".o_pivot:contains(Team playbook):contains(Emails Sent):contains(Replied):contains(Reply Rate)",
        },
        {
            content: "Show the graph",
            trigger: ".o_switch_view.o_graph",
            run: "click",
        },
        {
            content: "The graph is drawn",
            trigger: ".o_graph_renderer canvas",
        },
    ],
});

// A salesperson (no Mail Template Editor) copies the shared sequence, inserts a merge field from the editor, sees
// the preview hold a contact with an empty field, and sends a test with the footer the prospect gets.
registry.category("web_tour.tours").add("sales_sequence_rep_tour", {
    url: "/odoo/action-sales_sequence.action_sales_sequence",
    steps: () => [
        {
            content: "Open the shared playbook",
            trigger: ".o_kanban_record:contains(Team playbook):contains(Shared)",
            run: "click",
        },
        {
            content: "Copy it into my sequences",
            trigger: ".o_statusbar_buttons button[name=action_copy_to_mine]",
            run: "click",
        },
        {
            content: "The copy is mine",
            trigger: ".o_field_widget[name=name] input:value(Team playbook (Tour Rep))",
        },
        {
            content: "Open its first step",
            trigger: ".o_field_widget[name=step_ids] .o_data_row:contains(Intro) td.o_data_cell:first",
            run: "click",
        },
        {
            content: "Insert the first name from the picker",
            trigger: ".modal .o_field_widget[name=merge_field_pick] select",
            run: "selectByLabel First name",
        },
        {
            content: "The body holds the merge field with its fallback",
            trigger: ".modal .o_field_widget[name=body_html] .odoo-editor-editable:contains(object.first_name ||| there)",
        },
        {
            content: "Save the step",
            trigger: ".modal .o_form_button_save",
            run: "click",
        },
        {
            content: "Save the sequence",
            trigger: "body:not(:has(.modal)) .o_form_button_save",
            run: "click",
        },
        {
            content: "Preview the step",
            trigger: ".o_form_saved .o_field_widget[name=step_ids] .o_data_row:contains(Intro) button[name=action_preview]",
            run: "click",
        },
        {
            content: "The preview says why my own contact would be held",
            trigger: ".modal .o_field_widget[name=error]:contains(Company is empty for Tour Rep)",
        },
        {
            content: "Preview for Ann instead",
            trigger: ".modal .o_field_widget[name=partner_id] input",
            run: "edit Ann Smith",
        },
        {
            content: "Pick Ann",
            trigger: ".o-autocomplete--dropdown-item:contains(Ann Smith)",
            run: "click",
        },
        {
            content: "Her email reads well",
            trigger: ".modal .o_field_widget[name=body_html] iframe:iframe body:contains(Acme is growing):contains(Ann)",
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
    ],
});
