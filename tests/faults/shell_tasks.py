"""Tasks the fault scripts run inside `odoo-bin shell -d DB` (this file is fed on stdin; `env` is defined there).

The task is chosen by FAULTS_TASK, its arguments are the JSON in FAULTS_ARGS; the result is printed as one line
"FAULTS_RESULT <json>" on stdout. Only the addon's public entry points are used: sales.sequence create /
action_activate / _enroll_partners, the run cron's method, enrollment.action_resume.

  setup   a send calendar open 24/7, a sequence of N steps without delay (each step's body carries the marker
          FaultBodyNN), `size` new contacts enrolled, the sequence active; optionally an outgoing mail server
  enroll  a wave of `size` more new contacts enrolled in the (running) sequence
  worker  call the run cron's method in a loop, as a racing cron worker would, until told to stop
  resume  Resume the paused enrollments of the sequences (what a user does after fixing a send failure)
  settings  save Settings values (res.config.settings, as an administrator does), e.g. the parallel senders
"""

import json
import os
import random
import sys
import time
import traceback

from odoo import Command, fields

ENV = globals()["env"]  # defined by odoo-bin shell
ARGS = json.loads(os.environ.get("FAULTS_ARGS") or "{}")


def result(**values):
    sys.stdout.write("FAULTS_RESULT " + json.dumps(values) + "\n")
    sys.stdout.flush()


def setup(env, args):
    tag, size, steps = args["tag"], args["size"], args["steps"]
    if args.get("smtp_port"):
        env["ir.mail_server"].search([]).write({"active": False})
        env["ir.mail_server"].create(
            {
                "name": f"Faults SMTP sink {tag}",
                "smtp_host": "127.0.0.1",
                "smtp_port": args["smtp_port"],
                "smtp_encryption": "none",
                "sequence": 1,
            }
        )
    calendar = env["resource.calendar"].create(
        {
            "name": f"Faults hours {tag}",
            "tz": "UTC",
            "attendance_ids": [Command.clear()]
            + [Command.create({"name": str(d), "dayofweek": str(d), "hour_from": 0, "hour_to": 24}) for d in range(7)],
        }
    )
    partners = new_contacts(env, tag, 0, size)
    values = {
        "name": f"Faults {tag}",
        "calendar_id": calendar.id,
        "daily_limit": 0,
        "email_from": "faults.sender@example.com",
        "step_ids": [
            Command.create(
                {
                    "name": f"FaultStep{position:02d}",
                    "subject": f"Fault {tag} step {position} for {{{{ object.name }}}}",
                    "body_html": f'<p>FaultBody{position:02d} for <t t-out="object.name"/></p>',
                    "delay_days": 0,
                }
            )
            for position in range(1, steps + 1)
        ],
    }
    if "sender_mode" in env["sales.sequence"]._fields:
        values["sender_mode"] = "fixed"
    sequence = env["sales.sequence"].create(values)
    sequence.action_activate()
    enrollments, refusals = sequence._enroll_partners(partners)
    assert not refusals, refusals
    env.flush_all()
    env.cr.commit()
    states = {}
    for enrollment in enrollments:
        states[enrollment.state] = states.get(enrollment.state, 0) + 1
    result(
        sequence_id=sequence.id,
        step_ids=sequence.step_ids.ids,
        enrollments=len(enrollments),
        states=states,
    )


def new_contacts(env, tag, start, size):
    return env["res.partner"].create(
        [
            {"name": f"Fault {tag} {i:05d}", "email": f"fault.{tag}.{i:05d}@customer.example.com"}
            for i in range(start, start + size)
        ]
    )


def enroll(env, args):
    """A wave of new contacts enrolled in the running sequence (contacts keep arriving while the faults go on)."""
    sequence = env["sales.sequence"].browse(args["sequence_id"])
    enrollments, refusals = sequence._enroll_partners(new_contacts(env, args["tag"], args["start"], args["size"]))
    assert not refusals, refusals
    env.flush_all()
    env.cr.commit()
    result(enrollments=len(enrollments))


def worker(env, args):
    """A racing worker: the run cron's method in a loop, committing after each call as ir.cron does; waits at a
    barrier (a file) so all workers start together; stops when the stop file appears."""
    Enrollment = env["sales.sequence.enrollment"]
    rng = random.Random(args.get("seed"))
    chunk = {"chunk_size": args["chunk"]} if args.get("chunk") else {}  # default: the cron's own
    with open(args["ready"], "w") as ready:
        ready.write(str(os.getpid()))
    while not os.path.exists(args["go"]):
        time.sleep(0.005)
    calls = done = errors = 0
    first_error = ""
    while not os.path.exists(args["stop"]):
        calls += 1
        ran = 0
        try:
            ran = Enrollment._cron_run_sequences(**chunk)
            env.cr.commit()
        except Exception:  # noqa: BLE001 - counted and reported: ir.cron would log it and run the job again
            errors += 1
            first_error = first_error or traceback.format_exc()
            env.cr.rollback()
        done += ran
        env.invalidate_all()
        # Straight on while there is work (the race), a short random nap when there is none.
        time.sleep(rng.uniform(0.0, 0.01) if ran else rng.uniform(0.05, 0.25))
    result(calls=calls, done=done, errors=errors, first_error=first_error[-3000:])


def resume(env, args):
    enrollments = env["sales.sequence.enrollment"].search(
        [("sequence_id", "in", args["sequence_ids"]), ("state", "=", "paused")]
    )
    reasons = {}
    for enrollment in enrollments:
        key = (enrollment.state_reason or "")[:60]
        reasons[key] = reasons.get(key, 0) + 1
    enrollments.action_resume()
    env.flush_all()
    env.cr.commit()
    after = {}
    for enrollment in enrollments:
        after[enrollment.state] = after.get(enrollment.state, 0) + 1
    result(resumed=len(enrollments), reasons=reasons, states_after=after, now=str(fields.Datetime.now()))


def settings(env, args):
    """Settings saved as an administrator saves them (the form's create and execute)."""
    env["res.config.settings"].create(args["values"]).execute()
    env.cr.commit()
    result(saved=sorted(args["values"]))


TASKS = {"setup": setup, "enroll": enroll, "worker": worker, "resume": resume, "settings": settings}
TASKS[os.environ["FAULTS_TASK"]](ENV, ARGS)
