import pytest
from opportunities import LeadExitCriteria, LeadFacts, exit_criterion

ALL = LeadExitCriteria(on_won=True, on_lost=True, stage_sequence=2, stage_id=20, on_domain=True)


@pytest.mark.parametrize(
    ("facts", "criteria", "expected"),
    [
        (LeadFacts(), ALL, None),
        (LeadFacts(won=True, stage_sequence=70, stage_id=70), ALL, "won"),
        (LeadFacts(won=True), LeadExitCriteria(on_lost=True), None),
        (LeadFacts(lost=True, stage_sequence=1, stage_id=10), ALL, "lost"),
        (LeadFacts(lost=True), LeadExitCriteria(on_won=True), None),
        # Reaching a stage: the stage itself or any later one, never an earlier one.
        (LeadFacts(stage_sequence=2, stage_id=20), ALL, "stage"),
        (LeadFacts(stage_sequence=3, stage_id=30), ALL, "stage"),
        (LeadFacts(stage_sequence=1, stage_id=10), ALL, None),
        # Two stages with the same place in the pipeline: only the chosen one.
        (LeadFacts(stage_sequence=2, stage_id=21), ALL, None),
        # A lost opportunity left in a late stage has not reached it (lost is its own criterion).
        (LeadFacts(lost=True, stage_sequence=3, stage_id=30), LeadExitCriteria(stage_sequence=2, stage_id=20), None),
        (LeadFacts(matches_domain=True), ALL, "domain"),
        (LeadFacts(matches_domain=True), LeadExitCriteria(on_won=True), None),
        (LeadFacts(won=True, matches_domain=True), LeadExitCriteria(on_domain=True), "domain"),
    ],
)
def test_exit_criterion(facts, criteria, expected):
    assert exit_criterion(facts, criteria) == expected
