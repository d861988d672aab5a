/** @odoo-module */
import { registry } from "@web/core/registry";

// A manager deletes a contact that a sequence wrote to: the deletion offers Erase Personal Data, which erases the
// contact; the contact is gone from the contacts.
registry.category("web_tour.tours").add("sales_sequence_erase_tour", {
    steps: () => [
        {
            content: "The contact's form",
            trigger: ".o_form_view .o_field_widget[name=name]:contains(Zebulon Quartzfield), .o_form_view .o_field_widget[name=name] input",
        },
        {
            content: "Open the contact's actions",
            trigger: ".o_form_view .o_cp_action_menus button",
            run: "click",
        },
        {
            content: "Delete the contact",
            trigger: ".o-dropdown--menu .o-dropdown-item:contains(Delete)",
            run: "click",
        },
        {
            content: "Confirm the deletion",
            trigger: ".modal .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "The deletion offers the erasure instead",
            trigger: ".modal:contains(Erase their personal data instead) .modal-footer button:contains(Erase Personal Data)",
            run: "click",
        },
        {
            content: "The wizard names the contact and its enrollment",
            trigger: ".modal .o_field_widget[name=partner_ids]:contains(Zebulon Quartzfield)",
        },
        {
            content: "One enrollment is erased with the contact",
            trigger: ".modal .o_field_widget[name=enrollment_count]:contains(1)",
        },
        {
            content: "Erase",
            trigger: ".modal button[name=action_erase]",
            run: "click",
        },
        {
            content: "Confirm the erasure",
            trigger: ".modal:contains(for good) .modal-footer button.btn-primary",
            run: "click",
        },
        {
            content: "The erasure is confirmed",
            trigger: ".o_notification:contains(Personal data erased (1 contact(s)))",
        },
        {
            content: "Back to the contacts, without the erased one",
            trigger: ".o_list_view .o_data_row:contains(Tour Neighbour)",
        },
        {
            content: "The erased contact is gone",
            trigger: ".o_list_view:not(:has(.o_data_row:contains(Zebulon)))",
        },
    ],
});
