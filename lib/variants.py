"""A/B variants of an email step: which variant an enrollment gets, and when one has won.

Assignment is a hash of the enrollment and the step, not a random draw: a crash and a retry, a forecast and the
real send all pick the same variant, and the split stays even across workers.
"""

import hashlib
from dataclasses import dataclass


def assign_variant(enrollment_id, step_id, variant_ids):
    """The variant (one of `variant_ids`, in the given order) this enrollment receives for this step."""
    if not variant_ids:
        return None
    digest = hashlib.sha256(f"{step_id}:{enrollment_id}".encode()).digest()
    return variant_ids[int.from_bytes(digest[:8], "big") % len(variant_ids)]


# What a variant is judged on: replies (the default), or opportunities won from the enrollments that received it.
METRICS = ("replies", "won")


@dataclass(frozen=True)
class VariantStats:
    variant_id: int
    sent: int
    replied: int
    won: int = 0  # enrollments that received this variant and whose opportunity is won

    @property
    def reply_rate(self):
        return self.replied / self.sent if self.sent else 0.0

    @property
    def win_rate(self):
        return self.won / self.sent if self.sent else 0.0

    def successes(self, metric):
        return self.won if metric == "won" else self.replied

    def rate(self, metric):
        return self.win_rate if metric == "won" else self.reply_rate


def pick_winner(stats, min_sample, metric="replies"):
    """The variant with the best rate on `metric` (replies, or opportunities won) once every variant was sent at
    least `min_sample` times, else None.

    Replies, not opens: opens are unreliable (blocked pixels, privacy proxies that open everything). Opportunities
    won judge what the emails are for, but come later and fewer. No winner while no variant scored or while the best
    rate is shared: the test goes on until one variant is ahead.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown A/B metric {metric!r}; expected one of {METRICS}")
    stats = list(stats)
    if len(stats) < 2 or min(s.sent for s in stats) < max(min_sample, 1):
        return None
    ranked = sorted(stats, key=lambda s: s.rate(metric), reverse=True)
    best, runner_up = ranked[0], ranked[1]
    if not best.successes(metric) or best.rate(metric) == runner_up.rate(metric):
        return None
    return best.variant_id
