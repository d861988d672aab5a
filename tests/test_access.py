import base64
import json
from pathlib import Path

from odoo import Command, http
from odoo.exceptions import AccessError, RedirectWarning, UserError
from odoo.tests import new_test_user, tagged
from odoo.tools import mute_logger

from . import access_matrix
from .common import SalesSequenceCommon

READ_FIELD = {
    "sales.sequence": "name",
    "sales.sequence.step": "name",
    "sales.sequence.audience": "name",
    "sales.sequence.enrollment": "state",
    "sales.sequence.touch": "subject",
    "sales.sequence.event": "event_type",
    "sales.sequence.refusal": "reason",
    "sales.sequence.ruleset": "name",
    "sales.sequence.ruleset.exclusion": "name",
    "sales.sequence.step.condition": "condition_type",
    "sales.sequence.step.variant": "name",
    "sales.sequence.draft": "subject",
    "sales.sequence.call.outcome": "name",
    "sales.sequence.attention": "reason",
}
WRITE_VALUES = {
    "sales.sequence": {"description": "Edited"},
    "sales.sequence.step": {"name": "Edited"},
    "sales.sequence.audience": {"name": "Edited"},
    "sales.sequence.enrollment": {"state_reason": "Edited"},
    "sales.sequence.touch": {"subject": "Edited"},
    "sales.sequence.event": {"description": "Edited"},
    "sales.sequence.refusal": {"reason": "Edited"},
    "sales.sequence.ruleset": {"name": "Edited"},
    "sales.sequence.ruleset.exclusion": {"name": "Edited"},
    "sales.sequence.step.condition": {"condition_type": "contact"},
    "sales.sequence.step.variant": {"name": "Edited"},
    "sales.sequence.draft": {"subject": "Edited"},
    "sales.sequence.call.outcome": {"name": "Edited"},
    "sales.sequence.attention": {"reason": "Edited"},
}


class _Allowed(Exception):
    """Raised inside a savepoint to roll back an attempt that succeeded."""


class AccessCommon(SalesSequenceCommon):
    """Every role of the matrix, and for each role that can own sequences a sequence of its own with a step, an
    audience line, an enrollment and a step run (history)."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.company_2 = cls.env["res.company"].create({"name": "Other Company"})
        cls.user_other_company = new_test_user(
            cls.env,
            login="seq_other_company",
            name="Otto Other",
            email="otto.other@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman",
            company_id=cls.company_2.id,
        )
        cls.user_portal = new_test_user(cls.env, login="seq_portal", groups="base.group_portal")
        cls.user_internal = new_test_user(cls.env, login="seq_internal", groups="base.group_user")
        cls.users = {
            "public": cls.env.ref("base.public_user"),
            "portal": cls.user_portal,
            "internal": cls.user_internal,
            "user": cls.user_sales,
            "user_2": cls.user_sales_2,
            "manager": cls.user_sales_manager,
            "other_company": cls.user_other_company,
        }
        cls.own_sequences = {
            "user": cls._sequence_with_history(cls.user_sales),
            "user_2": cls._sequence_with_history(cls.user_sales_2),
            "manager": cls._sequence_with_history(cls.user_sales_manager),
            "other_company": cls._sequence_with_history(cls.user_other_company, cls.company_2),
        }
        cls.seq_a = cls.own_sequences["user"]
        cls.seq_b = cls.own_sequences["user_2"]
        # Each role's own opportunity (in its company), on a contact of its own.
        cls.leads = {
            role: cls.env["crm.lead"].create(
                {
                    "name": f"Deal of {user.name}",
                    "type": "opportunity",
                    "user_id": user.id,
                    "company_id": user.company_id.id,
                    "partner_id": cls.env["res.partner"]
                    .create({"name": f"Buyer of {user.name}", "email": f"buyer.{user.id}@example.com"})
                    .id,
                }
            )
            for role, user in cls.users.items()
            if role in ("user", "user_2", "manager", "other_company")
        }
        cls.lead_a = cls.leads["user"]

    @classmethod
    def _sequence_with_history(cls, owner, company=None):
        company = company or cls.env.ref("base.main_company")
        sequence = (
            cls.env["sales.sequence"]
            .sudo()
            .create(
                {
                    "name": f"Sequence of {owner.name}",
                    "user_id": owner.id,
                    "company_id": company.id,
                    "calendar_id": cls.calendar.id,
                    "daily_limit": 0,
                    "step_ids": [
                        Command.create({"name": f"{owner.name} step {i}", "subject": "S", "body_html": "<p>B</p>"})
                        for i in (1, 2)
                    ],
                    "audience_ids": [Command.create({"name": "Audience"})],
                }
            )
        )
        partner = cls.env["res.partner"].create({"name": f"Contact of {owner.name}", "email": "c@example.com"})
        enrollment = (
            cls.env["sales.sequence.enrollment"].sudo().create({"sequence_id": sequence.id, "partner_id": partner.id})
        )
        touch = (
            cls.env["sales.sequence.touch"]
            .sudo()
            .create(
                {
                    "enrollment_id": enrollment.id,
                    "step_id": sequence.step_ids[0].id,
                    "mailbox": owner.email,
                    "subject": "Sent",
                }
            )
        )
        cls.env["sales.sequence.event"]._record(enrollment, "send", "Sent", step=touch.step_id, touch_id=touch.id)
        first_step = sequence.step_ids[0]
        first_step.condition_ids = [Command.create({"condition_type": "contact", "domain": "[]"})]
        first_step.variant_ids = [
            Command.create({"name": name, "subject": name, "body_html": f"<p>{name}</p>"}) for name in ("A", "B")
        ]
        cls.env["sales.sequence.draft"].sudo().create(
            {"enrollment_id": enrollment.id, "step_id": first_step.id, "subject": "Draft", "body_html": "<p>D</p>"}
        )
        cls.env["sales.sequence.refusal"]._record(sequence, {partner: ("no_email", "Refused", None)}, "manual")
        if not sequence.ruleset_id.exclusion_ids:
            sequence.ruleset_id.sudo().exclusion_ids = [
                Command.create({"name": "Nobody", "domain": "[('id', '=', 0)]"})
            ]
        return sequence

    # ------------------------------------------------------------------
    # Attempts: each runs in a savepoint that is always rolled back
    # ------------------------------------------------------------------

    def attempt(self, action):
        """True when `action` succeeds (then undone), False when refused with an access or user error."""
        try:
            with mute_logger("odoo.models", "odoo.addons.base.models.ir_rule"), self.env.cr.savepoint():
                action()
                self.env.flush_all()
                raise _Allowed()
        except _Allowed:
            return True
        except (AccessError, UserError):
            return False
        finally:
            self.env.invalidate_all()

    @staticmethod
    def target(sequence, model):
        return {
            "sales.sequence": sequence,
            "sales.sequence.step": sequence.step_ids[:1],
            "sales.sequence.audience": sequence.audience_ids[:1],
            "sales.sequence.enrollment": sequence.enrollment_ids[:1],
            "sales.sequence.touch": sequence.enrollment_ids[:1].touch_ids[:1],
            "sales.sequence.event": sequence.enrollment_ids[:1].event_ids[:1],
            "sales.sequence.refusal": sequence.env["sales.sequence.refusal"]
            .sudo()
            .search([("sequence_id", "=", sequence.id)], limit=1),
            "sales.sequence.ruleset": sequence.sudo().ruleset_id,
            "sales.sequence.ruleset.exclusion": sequence.sudo().ruleset_id.exclusion_ids[:1],
            "sales.sequence.step.condition": sequence.sudo().step_ids[:1].condition_ids[:1],
            "sales.sequence.step.variant": sequence.sudo().step_ids[:1].variant_ids[:1],
            "sales.sequence.draft": sequence.env["sales.sequence.draft"]
            .sudo()
            .search([("sequence_id", "=", sequence.id)], limit=1),
            "sales.sequence.call.outcome": sequence.env.ref("sales_sequence.call_outcome_busy"),
            "sales.sequence.attention": sequence.env["sales.sequence.attention"]
            .sudo()
            .search([("sequence_id", "=", sequence.id)], limit=1),
        }[model].sudo(False)

    def create_values(self, sequence, model):
        sudo_sequence = sequence.sudo()
        if model == "sales.sequence":
            return {
                "name": "Created in a test",
                "user_id": sudo_sequence.user_id.id,
                "company_id": sudo_sequence.company_id.id,
                "calendar_id": self.calendar.id,
            }
        if model == "sales.sequence.enrollment":
            partner = self.env["res.partner"].create({"name": "New Contact", "email": "new@example.com"})
            return {"sequence_id": sequence.id, "partner_id": partner.id}
        if model == "sales.sequence.touch":
            return {"enrollment_id": sudo_sequence.enrollment_ids[0].id, "step_id": sudo_sequence.step_ids[1].id}
        if model == "sales.sequence.event":
            return {"enrollment_id": sudo_sequence.enrollment_ids[0].id, "event_type": "open"}
        if model == "sales.sequence.refusal":
            return {"sequence_id": sequence.id, "rule": "no_email", "reason": "R"}
        if model == "sales.sequence.ruleset":
            return {"name": "New rules", "company_id": sudo_sequence.company_id.id}
        if model == "sales.sequence.ruleset.exclusion":
            return {"ruleset_id": sudo_sequence.ruleset_id.id, "name": "New", "domain": "[]"}
        if model == "sales.sequence.audience":
            return {"sequence_id": sequence.id, "name": "New"}
        if model == "sales.sequence.step.condition":
            return {"step_id": sudo_sequence.step_ids[0].id, "condition_type": "contact", "domain": "[]"}
        if model == "sales.sequence.step.variant":
            return {"step_id": sudo_sequence.step_ids[0].id, "name": "C", "subject": "C", "body_html": "<p>C</p>"}
        if model == "sales.sequence.call.outcome":
            return {"name": f"Outcome {self.env['sales.sequence.call.outcome'].sudo().search_count([])}"}
        if model == "sales.sequence.attention":
            return {"reason": "New"}
        if model == "sales.sequence.draft":
            return {
                "enrollment_id": sudo_sequence.enrollment_ids[0].id,
                "step_id": sudo_sequence.step_ids[1].id,
                "subject": "New",
            }
        return {"sequence_id": sequence.id, "name": "New", "subject": "S", "body_html": "<p>B</p>"}

    def disposable(self, sequence, model):
        """A record of `sequence` without history, made for an unlink attempt (a touch is history by nature)."""
        if model == "sales.sequence":
            values = self.create_values(sequence, model)
            return self.env[model].sudo().create(dict(values, name="Disposable")).sudo(False)
        if model in (*access_matrix.HISTORY_MODELS, *access_matrix.DRAFT_MODELS, *access_matrix.ATTENTION_MODELS):
            return self.target(sequence, model)
        return self.env[model].sudo().create(self.create_values(sequence, model)).sudo(False)

    def allowed(self, user, operation, model, sequence):
        if operation == "read":
            return self.attempt(lambda: self.target(sequence, model).with_user(user).read([READ_FIELD[model]]))
        if operation == "write":
            return self.attempt(lambda: self.target(sequence, model).with_user(user).write(WRITE_VALUES[model]))
        if operation == "create":
            return self.attempt(lambda: self.env[model].with_user(user).create(self.create_values(sequence, model)))
        return self.attempt(lambda: self.disposable(sequence, model).with_user(user).unlink())


@tagged("post_install", "-at_install", "sales_sequence")
class TestAccessMatrix(AccessCommon):
    def test_record_matrix(self):
        """Every role x model x operation, on the role's own records and on another user's."""
        observed = {}
        for role, user in self.users.items():
            own = self.own_sequences.get(role)
            foreign = self.seq_b if role == "user" else self.seq_a
            for model in access_matrix.MODELS:
                for operation in access_matrix.OPERATIONS:
                    on_own = own is not None and self.allowed(user, operation, model, own)
                    on_foreign = self.allowed(user, operation, model, foreign)
                    cell = "all" if on_foreign and (on_own or own is None) else "own" if on_own else "-"
                    if on_foreign and own is not None and not on_own:
                        cell = "foreign only"
                    observed[(role, model, operation)] = cell
        expected = {
            (role, model, operation): access_matrix.RECORDS[role][model][operation]
            for role in access_matrix.ROLES
            for model in access_matrix.MODELS
            for operation in access_matrix.OPERATIONS
        }
        differences = {key: (observed[key], expected[key]) for key in expected if observed[key] != expected[key]}
        self.assertFalse(differences, "cells as (observed, expected)")

    def _press(self, user, model, method):
        """Press `method` as `user` on the first Sequences User's record of `model`."""
        if model == "sales.sequence.enroll.wizard":
            wizard = (
                self.env[model]
                .with_user(user)
                .create({"sequence_id": self.seq_a.id, "partner_ids": [Command.set(self.contacts[:1].ids)]})
            )
            return getattr(wizard, method)()
        if model == "sales.sequence.import.wizard":
            wizard = (
                self.env[model]
                .with_user(user)
                .create({"sequence_id": self.seq_a.id, "file": base64.b64encode(b"email\nimported@example.com\n")})
            )
            return getattr(wizard, method)()
        if model == "sales.sequence.step.preview":
            preview = (
                self.env[model]
                .with_user(user)
                .create({"step_id": self.seq_a.step_ids[0].id, "partner_id": self.contacts[0].id})
            )
            return getattr(preview, method)()
        if model == "sales.sequence.test.run":
            wizard = self.env[model].with_user(user).create({"sequence_id": self.seq_a.id})
            return getattr(wizard, method)()
        if model == "sales.sequence.share":
            data = self.env[model]._export_data(self.seq_a.sudo())
            raw = base64.b64encode(json.dumps(data).encode())
            return getattr(self.env[model].with_user(user).create({"file": raw}), method)()
        if model == "sales.sequence.erase.wizard":
            contact = self.seq_a.sudo().enrollment_ids[:1].partner_id
            wizard = (
                self.env[model]
                .with_user(user)
                .with_context(active_model="res.partner", active_ids=contact.ids)
                .create({})
            )
            return getattr(wizard, method)()
        if model == "sales.sequence.draft":
            draft = self.env[model].sudo().search([("sequence_id", "=", self.seq_a.id)], limit=1)
            if method == "action_send":
                draft = draft.create(
                    {
                        "enrollment_id": draft.enrollment_id.id,
                        "step_id": self.seq_a.step_ids[1].id,
                        "kind": "reminder",
                        "subject": "Reminder",
                        "body_html": "<p>R</p>",
                    }
                )
            return getattr(draft.with_user(user), method)()
        if model == "sales.sequence.attention":
            return getattr(self._attention_row(method).with_user(user), method)()
        record = {
            "sales.sequence": self.seq_a,
            "sales.sequence.step": self.seq_a.step_ids[:1],
            "sales.sequence.enrollment": self.seq_a.enrollment_ids[:1],
            "res.partner": self.contacts[:1],
            "crm.lead": self.lead_a,
        }[model]
        return getattr(record.with_user(user), method)()

    def _attention_row(self, method):
        """The first Sequences User's Needs Attention row the button acts on, made (as the engine would) inside the
        attempt's savepoint."""
        enrollment = self.seq_a.sudo().enrollment_ids[:1]
        if method in ("action_resume", "action_close"):
            self.env["sales.sequence.event"]._record(enrollment, "reply", "Re: hi")
            enrollment._pause("Replied.")
            kind = "reply"
        elif method == "action_mark_done":
            activity = enrollment.activity_schedule(
                "mail.mail_activity_data_call", summary="Call", user_id=self.user_sales.id
            )
            self.env["sales.sequence.touch"].sudo().create(
                {
                    "enrollment_id": enrollment.id,
                    "step_id": self.seq_a.step_ids[1].id,
                    "kind": "call",
                    "activity_id": activity.id,
                }
            )
            kind = "call"
        elif method == "action_dismiss":
            enrollment._end("bounced", "Bounced.")
            kind = "bounced"
        else:
            kind = "approval"
        Attention = self.env["sales.sequence.attention"].sudo()
        return Attention.search([("sequence_id", "=", self.seq_a.id), ("kind", "=", kind)], limit=1).sudo(False)

    def test_shared_matrix(self):
        """A sequence the manager shares: the team reads it and its content and copies it, never edits it."""
        shared = self.own_sequences["manager"]
        shared.sudo().shared = True
        differences = {}
        for role, user in self.users.items():
            for operation in access_matrix.SHARED_OPERATIONS:
                if operation == "copy to own":
                    observed = {self.attempt(lambda u=user: shared.with_user(u).action_copy_to_mine())}
                else:
                    observed = {
                        self.allowed(user, operation, model, shared)
                        if operation != "unlink"
                        else self.attempt(
                            lambda u=user, m=model: self._shared_disposable(shared, m).with_user(u).unlink()
                        )
                        for model in access_matrix.SHARED_MODELS
                    }
                expected = role in access_matrix.SHARED_ALLOWED[operation]
                if observed != {expected}:
                    differences[(role, operation)] = sorted(observed)
        self.assertFalse(differences, "shared-sequence cells that differ from the matrix")

    def _shared_disposable(self, shared, model):
        """A record of the shared sequence without history (a sequence: another shared one), to delete."""
        record = self.disposable(shared, model)
        if model == "sales.sequence":
            record.sudo().shared = True
        return record

    def test_a_copy_of_a_shared_sequence_is_the_users_own_draft(self):
        shared = self.own_sequences["manager"]
        shared.sudo().write({"shared": True, "state": "active"})
        action = shared.with_user(self.user_sales).action_copy_to_mine()
        copy = self.env["sales.sequence"].browse(action["res_id"])
        self.assertEqual(copy.user_id, self.user_sales)
        self.assertEqual((copy.state, copy.shared), ("draft", False))
        self.assertEqual(copy.step_ids.mapped("name"), shared.step_ids.mapped("name"))
        self.assertFalse(copy.audience_ids, "the manager's audience stays the manager's")
        self.assertFalse(copy.enrollment_ids)
        self.assertEqual(copy.with_user(self.user_sales).step_ids[:1].variant_ids.mapped("name"), ["A", "B"])
        with self.assertRaises(AccessError):
            shared.with_user(self.user_sales).description = "Mine now"

    def test_button_matrix(self):
        self.seq_a.sudo().action_activate()
        differences = {}
        for (model, method), allowed_roles in access_matrix.BUTTON_ALLOWED.items():
            for role, user in self.users.items():
                observed = self.attempt(lambda u=user, m=model, f=method: self._press(u, m, f))
                if observed != (role in allowed_roles):
                    differences[(model, method, role)] = "allowed" if observed else "denied"
        self.assertFalse(differences, "buttons whose access differs from the matrix")

    def _enroll_lead(self, user, sequence, lead):
        wizard = (
            self.env["sales.sequence.enroll.wizard"]
            .with_user(user)
            .create({"sequence_id": sequence.id, "lead_ids": [Command.set(lead.ids)]})
        )
        wizard.action_enroll()
        if not wizard.enrolled_count:
            raise UserError(wizard.result_message)

    def test_opportunity_matrix(self):
        """Enrolling from the pipeline and the exit criteria on the opportunity, for real, per role."""
        unreadable = {  # an opportunity each role cannot read: a colleague's, or another company's
            "internal": self.lead_a,
            "user": self.leads["user_2"],
            "user_2": self.lead_a,
            "manager": self.leads["other_company"],
            "other_company": self.lead_a,
        }
        criteria = {"exit_on_lead_won": True, "exit_lead_domain": "[('priority', '=', '3')]"}
        differences = {}
        for role in unreadable:
            user = self.users[role]
            own = self.own_sequences.get(role, self.seq_a)
            colleague = self.seq_b if role == "user" else self.seq_a
            lead = self.leads.get(role, self.lead_a)
            observed = {
                "enroll_readable": self.attempt(lambda u=user, s=own, x=lead: self._enroll_lead(u, s, x)),
                "enroll_unreadable": self.attempt(lambda u=user, s=own, x=unreadable[role]: self._enroll_lead(u, s, x))
                or self.attempt(
                    lambda u=user, s=own, x=unreadable[role]: (
                        self.env["sales.sequence.enrollment"]
                        .with_user(u)
                        .create({"sequence_id": s.id, "partner_id": x.sudo().partner_id.id, "lead_id": x.id})
                    )
                ),
                "exit_criteria": self.attempt(lambda u=user, s=own: s.with_user(u).write(criteria)),
                "exit_criteria_colleague": self.attempt(lambda u=user, s=colleague: s.with_user(u).write(criteria)),
            }
            for case, allowed in observed.items():
                if allowed != (role in access_matrix.OPPORTUNITY_ALLOWED[case]):
                    differences[(role, case)] = "allowed" if allowed else "denied"
        self.assertFalse(differences, "opportunity cells that differ from the matrix")

    def test_erasure_log_matrix(self):
        """The erasure log: Sequence Managers read it; nobody edits, adds or deletes a line (the erasure writes)."""
        contact = self.seq_a.sudo().enrollment_ids[:1].partner_id
        log = contact.sudo()._sales_sequence_erase()
        attempts = {
            "read": lambda user: log.with_user(user).read(["contact_ref", "user_id"]),
            "write": lambda user: log.with_user(user).write({"contact_ref": 1}),
            "create": lambda user: log.with_user(user).create({"contact_ref": 1, "user_id": user.id}),
            "unlink": lambda user: log.with_user(user).unlink(),
        }
        differences = {}
        for role, user in self.users.items():
            for operation, attempt in attempts.items():
                observed = self.attempt(lambda a=attempt, u=user: a(u))
                if observed != (role in access_matrix.ERASURE_LOG[operation]):
                    differences[(role, operation)] = "allowed" if observed else "denied"
        self.assertFalse(differences, "erasure log cells that differ from the matrix")

    def test_public_routes_are_in_the_matrix(self):
        installed = self.env["ir.module.module"].search([("state", "=", "installed")]).mapped("name")
        routes = {
            url
            for url, endpoint in http._generate_routing_rules(installed, nodb_only=False)
            if getattr(endpoint, "original_endpoint", endpoint).__module__.startswith("odoo.addons.sales_sequence")
        }
        self.assertEqual(routes, set(access_matrix.ROUTES))

    def test_readme_shows_the_matrix(self):
        readme = (Path(__file__).resolve().parent.parent / "README.rst").read_text()
        start, end = ".. access-matrix-start\n", ".. access-matrix-end\n"
        shown = readme[readme.index(start) + len(start) : readme.index(end)].strip("\n") + "\n"
        self.assertEqual(
            shown, access_matrix.render_rst(), "regenerate README's table with: python3 tests/access_matrix.py"
        )


@tagged("post_install", "-at_install", "sales_sequence")
class TestContentMatrix(SalesSequenceCommon):
    """What each role may store in its own sequence's templates, with "Restrict Template Rendering" on."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        editor = cls.env.ref("mail.group_mail_template_editor")
        cls.env.ref("base.group_user").implied_ids -= editor
        editor.users -= cls.user_sales | cls.user_sales_manager
        cls.user_editor = new_test_user(
            cls.env,
            login="seq_editor",
            name="Eddie Editor",
            email="eddie@test.example.com",
            groups="base.group_user,sales_team.group_sale_salesman,mail.group_mail_template_editor",
        )
        cls.users = {
            "user": cls.user_sales,
            "user_editor": cls.user_editor,
            "manager": cls.user_sales_manager,
            "admin": cls.env.ref("base.user_admin"),
        }
        cls.server = cls.env["ir.mail_server"].create({"name": "Admins only", "smtp_host": "localhost"})

    def _store(self, user, kind):
        sequence = self._create_sequence(user=user, delays=(0,)).with_user(user)
        step = sequence.step_ids
        code = "{{ object.env.cr.dbname }}"
        if kind == "merge_field":
            step.body_html = "<p>Hi {{ object.first_name ||| there }}</p>"
        elif kind == "code_body":
            step.body_html = f"<p>{code}</p>"
        elif kind == "code_comment":
            step.body_html = f"<p>Hi</p><!-- {code} -->"
        elif kind == "code_subject_multiline":
            step.subject = "Hi {{\n object.env.cr.dbname \n}}"
        elif kind == "code_sms":
            step.sms_body = f"Hi {code}"
        elif kind == "code_translation":
            step._update_field_translations("subject", {"fr_FR": f"Salut {code}"})
        elif kind == "code_variant":
            self.env["sales.sequence.step.variant"].with_user(user).create(
                {"step_id": step.id, "name": "B", "subject": "B", "body_html": f"<p>{code}</p>"}
            )
        elif kind == "mail_server":
            sequence.mail_server_id = self.server
        elif kind == "share":
            sequence.shared = True

    def test_content_matrix(self):
        self.env["res.lang"]._activate_lang("fr_FR")
        differences = {}
        for kind in access_matrix.CONTENT:
            for role, user in self.users.items():
                try:
                    with self.env.cr.savepoint(), mute_logger("odoo.addons.base.models.ir_rule"):
                        self._store(user, kind)
                        raise _Allowed
                except _Allowed:
                    observed = True
                except UserError:  # AccessError and ValidationError are UserErrors
                    observed = False
                if observed != (role in access_matrix.CONTENT_ALLOWED[kind]):
                    differences[(kind, role)] = "allowed" if observed else "refused"
        self.assertFalse(differences, "content whose access differs from the matrix")


@tagged("post_install", "-at_install", "sales_sequence")
class TestRepointingAttacks(AccessCommon):
    """Each way a Sequences User reached another user's sequence by re-pointing their own records."""

    def test_enrollment_cannot_take_a_step_of_another_sequence(self):
        own = self.seq_b.enrollment_ids[0].with_user(self.user_sales_2)
        with self.assertRaises(UserError) as caught:
            own.write({"step_id": self.seq_a.step_ids[0].id})
        self.assertIn("Next Step", str(caught.exception))
        self.assertEqual(own.sudo().step_id, self.env["sales.sequence.step"])

    def test_enrollment_cannot_move_to_another_sequence(self):
        own = self.seq_b.enrollment_ids[0].with_user(self.user_sales_2)
        with self.assertRaises(UserError) as caught:
            own.write({"sequence_id": self.seq_a.id})
        self.assertIn("Unenroll", str(caught.exception))
        self.assertEqual(own.sudo().sequence_id, self.seq_b)
        # Its own sequence, even its own other sequence: the contact's history stays where it was made.
        other_own = self._create_sequence(user=self.user_sales_2, name="B's second")
        with self.assertRaises(UserError):
            own.write({"sequence_id": other_own.id})
        with self.assertRaises(UserError):
            own.write({"partner_id": self.contacts[5].id})

    def test_step_cannot_move_to_another_sequence(self):
        step = self.seq_b.step_ids[0].with_user(self.user_sales_2)
        with self.assertRaises(UserError) as caught:
            step.write({"sequence_id": self.seq_a.id})
        self.assertIn("cannot move to another sequence", str(caught.exception))
        self.assertEqual(step.sudo().sequence_id, self.seq_b)

    def test_owner_is_an_internal_user_of_the_company(self):
        sequence = self.seq_a.with_user(self.user_sales)
        with self.assertRaises(UserError) as caught:
            self.seq_a.sudo().write({"user_id": self.user_portal.id})
        self.assertIn("Owner", str(caught.exception))
        self.assertIn("not an internal user", str(caught.exception))
        with self.assertRaises(UserError) as caught:
            self.seq_a.sudo().write({"user_id": self.user_other_company.id})
        self.assertIn("does not work in", str(caught.exception))
        # Giving one's sequence to another salesperson is creating a sequence for them: a Manager's call.
        with self.assertRaises(AccessError):
            sequence.write({"user_id": self.user_sales_2.id})
        self.seq_a.with_user(self.user_sales_manager).write({"user_id": self.user_sales_2.id})
        self.assertEqual(self.seq_a.user_id, self.user_sales_2)

    def test_history_is_never_deleted_by_a_user(self):
        enrollment = self.seq_a.enrollment_ids[0]
        mailbox = self.user_sales.email
        touches = self.env["sales.sequence.touch"]
        window = ("2000-01-01", "2100-01-01")
        count_before = touches._count_sent_by_mailbox(mailbox, *window)
        self.assertEqual(count_before, 1)
        with self.assertRaises(UserError) as caught:
            enrollment.with_user(self.user_sales).unlink()
        self.assertIn("Unenroll", str(caught.exception))
        for user in (self.user_sales, self.user_sales_manager):
            with self.assertRaises(AccessError):
                enrollment.touch_ids.with_user(user).unlink()
            with self.assertRaises(AccessError):
                enrollment.touch_ids.with_user(user).write({"mailbox": "other@example.com"})
        with self.assertRaises(UserError):
            self.seq_a.with_user(self.user_sales_manager).unlink()
        with self.assertRaises(RedirectWarning) as caught:
            enrollment.partner_id.unlink()  # a contact who was written to keeps the record of it: erasure is offered
        self.assertIn("Erase their personal data instead", str(caught.exception))
        self.assertTrue(enrollment.exists())
        self.assertEqual(touches._count_sent_by_mailbox(mailbox, *window), count_before)

    def test_managers_archive_users_unenroll(self):
        enrollment = self.seq_a.enrollment_ids[0]
        with self.assertRaises(UserError):
            enrollment.with_user(self.user_sales).action_archive()
        enrollment.with_user(self.user_sales_manager).action_archive()
        self.assertFalse(enrollment.active)
        self.assertEqual(enrollment.state, "canceled", "an archived enrollment sends nothing more")
        self.assertTrue(enrollment.touch_ids, "archiving keeps the history")

    def test_an_enrollment_without_history_can_be_deleted(self):
        enrollment, _refusals = self.seq_a.with_user(self.user_sales)._enroll_partners(self.contacts[6])
        enrollment.unlink()
        self.assertFalse(enrollment.exists())
