"""The addon's access matrix: what each role may do, on which records. Plain Python, no Odoo import.

tests/test_access.py checks every cell against a real database, and checks that README.rst's Security section
shows exactly this table. After changing a cell, regenerate the README's table with:

    python3 tests/access_matrix.py

Record cells say on which records an operation is allowed: ``all`` (anyone's), ``own`` (the role's own sequences
and what hangs on them, in its companies), ``-`` (none). Button cells say whether the role may press the button on
a record of a sequence owned by the first Sequences User.
"""

ROLES = {
    "public": "Public (not logged in)",
    "portal": "Portal user",
    "internal": "Internal user, no sales group",
    "user": "Sequences User",
    "user_2": "Second Sequences User",
    "manager": "Sequences Manager",
    "other_company": "Sequences User of another company",
}

MODELS = {
    "sales.sequence": "Sequence",
    "sales.sequence.step": "Step",
    "sales.sequence.audience": "Audience",
    "sales.sequence.enrollment": "Enrollment",
    "sales.sequence.touch": "Step run (history)",
    "sales.sequence.event": "Event (history)",
    "sales.sequence.refusal": "Not enrolled (history)",
    "sales.sequence.ruleset": "Ruleset",
    "sales.sequence.ruleset.exclusion": "Exclusion rule",
    "sales.sequence.step.condition": "Step condition",
    "sales.sequence.step.variant": "Email variant (A/B)",
    "sales.sequence.draft": "Draft (Needs Attention)",
    "sales.sequence.call.outcome": "Call outcome (list)",
    "sales.sequence.attention": "Needs Attention row",
}

OPERATIONS = ("read", "write", "create", "unlink")
HISTORY_MODELS = ("sales.sequence.touch", "sales.sequence.event", "sales.sequence.refusal")
# Needs Attention (a SQL view): read like history, its rows acted on through their buttons.
ATTENTION_MODELS = ("sales.sequence.attention",)
# Company-wide settings: read by every Sequences User of the company, managed by the Managers.
SETTINGS_MODELS = ("sales.sequence.ruleset", "sales.sequence.ruleset.exclusion")
# Drafts are made by the engine: their owner reads, edits and decides them, nobody creates or deletes them.
DRAFT_MODELS = ("sales.sequence.draft",)
# Lists shared by every company (no company field): read by every internal user (a call's assignee may have no
# sequence rights), written by the Managers.
CATALOG_MODELS = ("sales.sequence.call.outcome",)

_NOTHING = dict.fromkeys(OPERATIONS, "-")
_OWN = dict.fromkeys(OPERATIONS, "own")
_ALL = dict.fromkeys(OPERATIONS, "all")
# Step runs are history: read like their sequence, written by the engine alone, never deleted.
_HISTORY_OWN = {"read": "own", "write": "-", "create": "-", "unlink": "-"}
_HISTORY_ALL = {"read": "all", "write": "-", "create": "-", "unlink": "-"}


_SETTINGS_READ_ALL = {"read": "all", "write": "-", "create": "-", "unlink": "-"}
_SETTINGS_READ_OWN = {"read": "own", "write": "-", "create": "-", "unlink": "-"}


_DRAFT_OWN = {"read": "own", "write": "own", "create": "-", "unlink": "-"}
_DRAFT_ALL = {"read": "all", "write": "all", "create": "-", "unlink": "-"}


_CATALOG_READ = {"read": "all", "write": "-", "create": "-", "unlink": "-"}


def _role_cells(documents, history, settings, drafts=None, catalog=None):
    cells = {}
    for model in MODELS:
        if model in CATALOG_MODELS:
            cells[model] = catalog or _NOTHING
        elif model in DRAFT_MODELS:
            cells[model] = drafts or _NOTHING
        elif model in HISTORY_MODELS or model in ATTENTION_MODELS:
            cells[model] = history
        else:
            cells[model] = settings if model in SETTINGS_MODELS else documents
    return cells


RECORDS = {
    "public": _role_cells(_NOTHING, _NOTHING, _NOTHING),
    "portal": _role_cells(_NOTHING, _NOTHING, _NOTHING),
    "internal": _role_cells(_NOTHING, _NOTHING, _NOTHING, catalog=_CATALOG_READ),
    "user": _role_cells(_OWN, _HISTORY_OWN, _SETTINGS_READ_ALL, _DRAFT_OWN, _CATALOG_READ),
    "user_2": _role_cells(_OWN, _HISTORY_OWN, _SETTINGS_READ_ALL, _DRAFT_OWN, _CATALOG_READ),
    "manager": _role_cells(_ALL, _HISTORY_ALL, _ALL, _DRAFT_ALL, _ALL),
    # "own" for settings: those of the user's own company.
    "other_company": _role_cells(_OWN, _HISTORY_OWN, _SETTINGS_READ_OWN, _DRAFT_OWN, _CATALOG_READ),
}

# A sequence a Sequences Manager shares with the team (``shared``, rule_sales_sequence_shared and the like): what
# each role may do with it and its content (tests/test_access.py, test_shared_matrix). Copying gives a draft of the
# user's own, whose enrollments and content are then theirs.
SHARED_MODELS = (
    "sales.sequence",
    "sales.sequence.step",
    "sales.sequence.step.condition",
    "sales.sequence.step.variant",
)
SHARED_OPERATIONS = ("read", "write", "unlink", "copy to own")
_SHARED_READERS = {"user", "user_2", "manager"}
SHARED_ALLOWED = {
    "read": _SHARED_READERS,
    "write": {"manager"},
    "unlink": {"manager"},
    "copy to own": _SHARED_READERS,
}

BUTTONS = {
    "sales.sequence": (
        "action_activate",
        "action_pause",
        "action_resume",
        "action_open_enroll_wizard",
        "action_view_enrollments",
        "action_view_refusals",
        "action_open_import_wizard",
        "action_sync_audience",
        "action_preview_audience",
        "action_view_attention",
        "action_open_forecast",
        "action_open_test_run",
        "action_export_json",
        "action_copy_to_mine",
        "action_release_bounce_hold",
    ),
    "sales.sequence.step": ("action_preview",),
    "sales.sequence.draft": ("action_approve", "action_skip", "action_send"),
    "sales.sequence.attention": (
        "action_approve",
        "action_resume",
        "action_close",
        "action_mark_done",
        "action_dismiss",
        "action_open",
    ),
    "sales.sequence.test.run": ("action_run",),
    "sales.sequence.share": ("action_import",),
    "sales.sequence.enrollment": (
        "action_pause",
        "action_resume",
        "action_cancel",
        "action_view_touches",
        "action_send_now",
        "action_send_now_ignore_limits",
        "action_close_after_reply",
        "action_dismiss_attention",
    ),
    "sales.sequence.enroll.wizard": ("action_enroll",),
    "sales.sequence.import.wizard": ("action_import",),
    "sales.sequence.step.preview": ("action_send_test",),
    "res.partner": (
        "action_view_sales_sequence_enrollments",
        "action_resume_sales_sequences",
        "action_pause_sales_sequences",
    ),
    # On the first Sequences User's opportunity: who may read it (the CRM's record rules) and run sequences.
    "crm.lead": (
        "action_enroll_in_sales_sequence",
        "action_view_sales_sequence_enrollments",
        "action_resume_sales_sequences",
        "action_pause_sales_sequences",
    ),
    "sales.sequence.erase.wizard": ("action_erase",),
}

# Who may press each button on the first Sequences User's records: that user and the managers. The contact's
# Sequences buttons are for anyone with sequences (they list, pause or resume only what the user may see), and so
# is importing a shared sequence (it becomes the importer's own).
_OWNER_AND_MANAGER = {"user", "manager"}
_SEQUENCE_USERS = {"user", "user_2", "manager", "other_company"}
_FOR_ALL_SEQUENCE_USERS = ("res.partner", "sales.sequence.share")
BUTTON_ALLOWED = {
    (model, method): (_SEQUENCE_USERS if model in _FOR_ALL_SEQUENCE_USERS else _OWNER_AND_MANAGER)
    for model, methods in BUTTONS.items()
    for method in methods
}
# Erase Personal Data (on the contact of a sequence of the first Sequences User): Sequence Managers only.
BUTTON_ALLOWED[("sales.sequence.erase.wizard", "action_erase")] = {"manager"}

# The erasure log (sales.sequence.erasure): written by the erasure alone, read by the Sequence Managers, kept.
ERASURE_LOG = {"read": {"manager"}, "write": set(), "create": set(), "unlink": set()}

# From the pipeline (tests/test_access.py, test_opportunity_matrix): enrolling the first Sequences User's opportunity
# in the role's own sequence, and setting the exit criteria on the opportunity of the role's own sequence.
OPPORTUNITY_CASES = {
    "enroll_readable": "Enroll from an opportunity one can read (one's own)",
    "enroll_unreadable": "Enroll from a colleague's opportunity one cannot read",
    "exit_criteria": "Set exit criteria on the opportunity (won, lost, stage, conditions)",
    "exit_criteria_colleague": "Set them on a colleague's sequence",
}
_OPPORTUNITY_ROLES = ("internal", "user", "user_2", "manager", "other_company")
OPPORTUNITY_ALLOWED = {
    "enroll_readable": {"user", "user_2", "manager", "other_company"},
    "enroll_unreadable": set(),
    "exit_criteria": {"user", "user_2", "manager", "other_company"},
    "exit_criteria_colleague": {"manager"},
}

# The addon's public (HTTP) routes and who may call them: anyone, with the HMAC token of that record and purpose
# (tests/test_conversation.py checks that a forged, swapped or malformed token gets a plain 404).
ROUTES = {
    "/sales_sequence/unsubscribe/<int:enrollment_id>/<string:token>": "anyone with the token (GET page, POST)",
    "/sales_sequence/o/<int:touch_id>/<string:token>": "anyone with the token (open pixel)",
    "/sales_sequence/c/<int:touch_id>/<int:link_id>/<string:token>": "anyone with the token (links of that email)",
}


# What a role may store in its own sequence's content (tests/test_access.py, TestContentMatrix). Code runs only for
# Odoo's Mail Template Editors; merge fields are for everyone; a mail server is an administrator's choice.
CONTENT_ROLES = {
    "user": "Sequences User",
    "user_editor": "Sequences User + Mail Template Editor",
    "manager": "Sequences Manager",
    "admin": "Administrator",
}
CONTENT = {
    "merge_field": "Merge field with fallback in the body",
    "code_body": "Code in the body",
    "code_comment": "Code inside an HTML comment of the body",
    "code_subject_multiline": "Code over several lines in the subject",
    "code_sms": "Code in the SMS text",
    "code_translation": "Code in a translation of the subject",
    "code_variant": "Code in an A/B variant's body",
    "mail_server": "An outgoing mail server on the sequence",
    "share": "Share the sequence with the team",
}
_EDITORS = {"user_editor", "admin"}
CONTENT_ALLOWED = {
    "merge_field": set(CONTENT_ROLES),
    "mail_server": {"admin"},
    "share": {"manager", "admin"},
    **{kind: _EDITORS for kind in CONTENT if kind.startswith("code_")},
}


def render_rst():
    """The README table: one row per role and model, a column per operation; then the buttons."""
    lines = []
    header = ["Role", "Model", *OPERATIONS]
    rows = [
        [ROLES[role], MODELS[model], *(RECORDS[role][model][op] for op in OPERATIONS)]
        for role in ROLES
        for model in MODELS
    ]
    lines += _simple_table(header, rows)
    lines.append("")
    header = ["Button", *ROLES]
    rows = [
        [f"{model}.{method}", *("yes" if role in BUTTON_ALLOWED[(model, method)] else "-" for role in ROLES)]
        for model, methods in BUTTONS.items()
        for method in methods
    ]
    lines += _simple_table(header, rows)
    lines.append("")
    header = ["Erasure log", *OPERATIONS]
    rows = [[ROLES[role], *("yes" if role in ERASURE_LOG[op] else "-" for op in OPERATIONS)] for role in ROLES]
    lines += _simple_table(header, rows)
    lines.append("")
    header = ["A manager's shared sequence", *SHARED_OPERATIONS]
    rows = [
        [ROLES[role], *("yes" if role in SHARED_ALLOWED[op] else "-" for op in SHARED_OPERATIONS)] for role in ROLES
    ]
    lines += _simple_table(header, rows)
    lines.append("")
    lines.append("(read, write, unlink: the sequence and its steps, step conditions and A/B variants alike;")
    lines.append("copy to own: *Copy to My Sequences*.)")
    lines.append("")
    header = ["Content of one's own sequence", *CONTENT_ROLES.values()]
    rows = [
        [label, *("yes" if role in CONTENT_ALLOWED[kind] else "-" for role in CONTENT_ROLES)]
        for kind, label in CONTENT.items()
    ]
    lines += _simple_table(header, rows)
    lines.append("")
    header = ["From the pipeline", *(ROLES[role] for role in _OPPORTUNITY_ROLES)]
    rows = [
        [label, *("yes" if role in OPPORTUNITY_ALLOWED[case] else "-" for role in _OPPORTUNITY_ROLES)]
        for case, label in OPPORTUNITY_CASES.items()
    ]
    lines += _simple_table(header, rows)
    lines.append("")
    lines.append("Public routes (``auth='public'``):")
    lines.append("")
    lines += [f"* ``{route}``: {who}" for route, who in ROUTES.items()] or ["* none"]
    return "\n".join(lines) + "\n"


def _simple_table(header, rows):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    rule = "  ".join("=" * width for width in widths)

    def line(row):
        return "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()

    return [rule, line(header), rule, *(line(row) for row in rows), rule]


if __name__ == "__main__":
    import sys

    sys.stdout.write(render_rst())
