{
    "name": "Sales Sequences",
    "summary": "Multi-step outreach cadences (emails on a send schedule) run by cron against CRM contacts",
    "version": "18.0.1.0.0",
    "category": "Sales/CRM",
    "license": "LGPL-3",
    "author": "sales_sequence developers",
    "depends": ["crm", "mail", "contacts", "resource", "sales_team"],
    "data": [
        "security/sales_sequence_security.xml",
        "security/ir.model.access.csv",
        "data/ir_cron_data.xml",
        "data/mail_layout_data.xml",
        "views/sales_sequence_views.xml",
        "views/sales_sequence_enrollment_views.xml",
        "views/res_partner_views.xml",
        "wizards/sales_sequence_enroll_wizard_views.xml",
        "views/sales_sequence_menus.xml",
    ],
    "demo": ["demo/sales_sequence_demo.xml"],
    "assets": {
        "web.assets_tests": ["sales_sequence/static/tests/tours/**/*"],
    },
}
