import threading
import uuid
from contextlib import closing

from odoo import SUPERUSER_ID, Command, api
from odoo.tests import TransactionCase, tagged


@tagged("post_install", "-at_install", "sales_sequence")
class TestAudienceRace(TransactionCase):
    """Two audience syncs of one sequence at once, on real separate connections: each contact is enrolled once, the
    second sync steps aside while the first runs, and nothing fails."""

    def setUp(self):
        super().setUp()
        self.tag = uuid.uuid4().hex[:8]
        with closing(self.registry.cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            partners = env["res.partner"].create(
                [{"name": f"Racer {i}", "email": f"racer{i}.{self.tag}@race.example"} for i in range(30)]
            )
            sequence = env["sales.sequence"].create(
                {
                    "name": f"Race {self.tag}",
                    "step_ids": [Command.create({"name": "One", "subject": "S", "body_html": "<p>B</p>"})],
                    "audience_ids": [
                        Command.create({"name": "Racers", "filter_domain": f"[('email', 'ilike', '{self.tag}@race')]"})
                    ],
                }
            )
            cr.commit()  # pylint: disable=invalid-commit
            self.sequence_id, self.partner_ids = sequence.id, partners.ids
        self.addCleanup(self._remove_committed_data)

    def _remove_committed_data(self):
        with closing(self.registry.cursor()) as cr:
            env = api.Environment(cr, SUPERUSER_ID, {})
            cr.execute("DELETE FROM sales_sequence_refusal WHERE sequence_id = %s", [self.sequence_id])
            env["sales.sequence.enrollment"].search([("sequence_id", "=", self.sequence_id)]).unlink()
            env["sales.sequence"].browse(self.sequence_id).unlink()
            env["res.partner"].browse(self.partner_ids).unlink()
            cr.commit()  # pylint: disable=invalid-commit

    def test_two_syncs_racing(self):
        cr_a = self.registry.cursor()
        self.addCleanup(cr_a.close)
        env_a = api.Environment(cr_a, SUPERUSER_ID, {})
        first = env_a["sales.sequence"].browse(self.sequence_id)._sync_audience()
        self.assertEqual(len(first), 30)

        outcome = {}

        def second_worker():
            with closing(self.registry.cursor()) as cr_b:
                # The test run holds the registry lock: hand the thread's cursor the registry directly.
                cr_b.transaction = api.Transaction(self.registry)
                env_b = api.Environment(cr_b, SUPERUSER_ID, {})
                try:
                    outcome["enrolled"] = len(env_b["sales.sequence"].browse(self.sequence_id)._sync_audience())
                    cr_b.commit()
                except Exception as error:  # noqa: BLE001 - reported to the test below
                    outcome["error"] = error
                    cr_b.rollback()

        worker = threading.Thread(target=second_worker)
        worker.start()
        worker.join(timeout=60)
        self.assertFalse(worker.is_alive(), "the second sync does not wait for the first")
        self.assertNotIn("error", outcome)
        self.assertEqual(outcome["enrolled"], 0, "nothing enrolled twice")
        cr_a.commit()
        again = env_a["sales.sequence"].browse(self.sequence_id)._sync_audience()
        self.assertFalse(again, "once the first has committed, a new sync adds nobody")
        cr_a.commit()
        with closing(self.registry.cursor()) as cr:
            cr.execute(
                "SELECT count(*), count(DISTINCT partner_id) FROM sales_sequence_enrollment WHERE sequence_id = %s",
                [self.sequence_id],
            )
            self.assertEqual(cr.fetchone(), (30, 30))
