/** @odoo-module */
import { registry } from "@web/core/registry";

// What waits on the rep after a run: the blocked enrollment on the card and in the Blocked menu, with its reason.
registry.category("web_tour.tours").add("sales_sequence_blocked_tour", {
    url: "/odoo/action-sales_sequence.action_sales_sequence",
    steps: () => [
        {
            content: "The sequence's card counts the blocked enrollment",
            trigger: ".o_kanban_record:contains(Held cadence):contains(1 blocked)",
        },
        {
            content: "Open the Sequences menu",
            trigger: ".o_menu_sections button:contains(Sequences), .o_menu_sections a:contains(Sequences)",
            run: "click",
        },
        {
            content: "Sequences > Blocked",
            trigger: ".dropdown-item:contains(Blocked)",
            run: "click",
        },
        {
            content: "Blocked enrollments come grouped by sequence",
            trigger: ".o_group_name:contains(Held cadence)",
            run: "click",
        },
        {
            content: "The blocked contact is listed with why and how to fix it",
            trigger: ".o_data_row:contains(Nadia):contains(is empty for Nadia Nojob):contains(add a fallback)",
        },
    ],
});

// An email held by the daily limit, sent now from its form.
registry.category("web_tour.tours").add("sales_sequence_send_now_tour", {
    steps: () => [
        {
            content: "The held enrollment offers Send Now",
            trigger: ".o_form_view button[name=action_send_now]",
            run: "click",
        },
        {
            content: "It is released for the next run",
            trigger: ".o_notification:contains(released)",
        },
    ],
});

// Sequences > Needs Attention: the kinds counted in their group headers, and a reply resumed in one click.
registry.category("web_tour.tours").add("sales_sequence_needs_attention_tour", {
    url: "/odoo/crm",
    steps: () => [
        {
            content: "Open the Sequences menu",
            trigger: ".o_menu_sections button:contains(Sequences), .o_menu_sections a:contains(Sequences)",
            run: "click",
        },
        {
            content: "Sequences > Needs Attention",
            trigger: ".dropdown-item:contains(Needs Attention)",
            run: "click",
        },
        {
            content: "The blocked enrollment is counted",
            trigger: ".o_group_name:contains(Blocked enrollment (1))",
        },
        {
            content: "The reply is counted; open its group",
            trigger: ".o_group_name:contains(Reply to handle (1))",
            run: "click",
        },
        {
            content: "Resume the enrollment the reply paused",
            trigger: ".o_data_row:contains(Rita Replied) button[name=action_resume]",
            run: "click",
        },
        {
            content: "It is resumed",
            trigger: ".o_notification:contains(Resumed)",
        },
        {
            content: "The activity menu in the top bar counts what still waits on the rep",
            trigger: ".o_menu_systray i[aria-label=Activities]",
            run: "click",
        },
        {
            content: "Sequences: 1 need attention (the blocked enrollment); open it",
            trigger: ".o-mail-ActivityGroup[data-model_name='sales.sequence.attention']:contains(1 need attention)",
            run: "click",
        },
        {
            content: "Needs Attention opens on the rep's rows",
            trigger: ".o_group_name:contains(Blocked enrollment (1))",
        },
    ],
});
