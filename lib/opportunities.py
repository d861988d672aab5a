"""Exit criteria on an enrollment's opportunity: does the state of its crm.lead end the enrollment, and why?

Plain Python, no Odoo: the engine reads the opportunity's facts (won, lost, its stage's place in the pipeline, whether
it matches the sequence's conditions) and the sequence's criteria, and asks here which criterion, if any, is met.
The same answer serves the run cron (checked before every step) and a write on the opportunity (won, lost, moved).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class LeadFacts:
    won: bool = False
    lost: bool = False
    stage_sequence: int | None = None
    stage_id: int | None = None
    matches_domain: bool = False


@dataclass(frozen=True)
class LeadExitCriteria:
    on_won: bool = False
    on_lost: bool = False
    stage_sequence: int | None = None  # "reaching a stage": this stage or any later one in the pipeline's order
    stage_id: int | None = None
    on_domain: bool = False


def exit_criterion(facts, criteria):
    """The first criterion met, one of "won", "lost", "stage", "domain", else None. Won and lost come first: they
    say more to the rep than the stage a won opportunity is in."""
    if criteria.on_won and facts.won:
        return "won"
    if criteria.on_lost and facts.lost:
        return "lost"
    if criteria.stage_id and not facts.lost and facts.stage_id is not None:
        if facts.stage_id == criteria.stage_id or (
            facts.stage_sequence is not None
            and criteria.stage_sequence is not None
            and facts.stage_sequence > criteria.stage_sequence
        ):
            return "stage"
    if criteria.on_domain and facts.matches_domain:
        return "domain"
    return None
