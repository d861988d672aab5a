"""Drives the real Odoo UI in Chromium (Playwright) and saves the README's screenshots.

Prepares the demo data through Odoo's external API (activates the demo sequence, adds a contact without email),
then, as the admin user, takes:

* screenshot_sequence_form.png: the demo sequence's form (steps, schedule, smart buttons);
* screenshot_step_editor.png: a step's editor with its placeholders;
* screenshot_enrollments.png: the enrollment list with states and reasons, after the cron ran once;
* screenshot_enroll_result.png: the result of enrolling contacts, one of them refused with its reason.
"""

import argparse
import sys
import xmlrpc.client
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = {"width": 1440, "height": 900}
TIMEOUT_MS = 30000


class Demo:
    """The demo database, through Odoo's external API as admin."""

    def __init__(self, url, db):
        self.db = db
        common = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/common")
        self.uid = common.authenticate(db, "admin", "admin", {})
        self.models = xmlrpc.client.ServerProxy(f"{url}/xmlrpc/2/object", allow_none=True)

    def call(self, model, method, *args, **kwargs):
        return self.models.execute_kw(self.db, self.uid, "admin", model, method, list(args), kwargs)

    def ref(self, xmlid):
        module, name = xmlid.split(".")
        rows = self.call("ir.model.data", "search_read", [("module", "=", module), ("name", "=", name)], ["res_id"])
        return rows[0]["res_id"]


def prepare(demo):
    sequence_id = demo.ref("sales_sequence.sequence_demo_new_lead")
    demo.call("sales.sequence", "action_activate", [sequence_id])
    demo.call("res.partner", "create", {"name": "Nora No-Email", "function": "Buyer"})
    demo.call("res.partner", "create", {"name": "Oscar Newlead", "email": "oscar.newlead@example.com"})
    return sequence_id


def shoot(page, out, name):
    page.wait_for_timeout(600)  # let transitions and avatars settle
    path = out / name
    page.screenshot(path=str(path))
    sys.stdout.write(f"wrote {path}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument("--out", required=True, type=Path)
    options = parser.parse_args()
    demo = Demo(options.url, options.db)
    sequence_id = prepare(demo)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport=VIEWPORT)
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(f"{options.url}/web/login")
        page.fill("input[name=login]", "admin")
        page.fill("input[name=password]", "admin")
        page.click("button[type=submit]")
        page.wait_for_selector(".o_main_navbar")

        page.goto(f"{options.url}/odoo/action-sales_sequence.action_sales_sequence/{sequence_id}")
        page.wait_for_selector(".o_form_view .o_field_widget[name=step_ids] .o_data_row")
        shoot(page, options.out, "screenshot_sequence_form.png")

        page.click(".o_field_widget[name=step_ids] .o_data_row:first-child td.o_data_cell[name=name]")
        page.wait_for_selector(".modal .o_field_widget[name=body_html] .odoo-editor-editable [t-out]")
        shoot(page, options.out, "screenshot_step_editor.png")
        page.click(".modal .modal-footer .o_form_button_cancel")
        page.wait_for_selector(".modal", state="detached")

        page.click("button[name=action_open_enroll_wizard]")
        tags = page.locator(".modal .o_field_widget[name=partner_ids] input")
        for name in ("Oscar Newlead", "Nora No-Email", "Ada Prospect"):
            tags.fill(name)
            page.click(f".o-autocomplete--dropdown-item:has-text('{name}')")
            page.wait_for_selector(f".modal .o_field_widget[name=partner_ids] .o_tag:has-text('{name}')")
        page.click(".modal button[name=action_enroll]")
        page.wait_for_selector(".modal .o_field_widget[name=result_line_ids] .o_data_row")
        shoot(page, options.out, "screenshot_enroll_result.png")
        page.click(".modal .modal-footer button:has-text('Close')")
        page.wait_for_selector(".modal", state="detached")

        demo.call("ir.cron", "method_direct_trigger", [demo.ref("sales_sequence.ir_cron_run_sequences")])
        page.goto(f"{options.url}/odoo/action-sales_sequence.action_sales_sequence_enrollment")
        page.wait_for_selector(".o_list_view .o_data_row")
        shoot(page, options.out, "screenshot_enrollments.png")

        page.goto(f"{options.url}/odoo/action-sales_sequence.action_sales_sequence_report")
        page.wait_for_selector(".o_pivot table")
        shoot(page, options.out, "screenshot_report.png")
        browser.close()


if __name__ == "__main__":
    main()
