"""Recording a member's event (a survey, a review): earned as its rules say, retried safely, refused whole."""

from __future__ import annotations

import pytest

from loyalty.errors import IdempotencyConflict, InvalidInput, UnknownMember
from loyalty.program import Program
from loyalty.rules import EventRule, SpendRule
from loyalty.store import Store
from loyalty.testing.snapshots import snapshot
from tests.service.helpers import T0, engine_for


@pytest.fixture
def store(memory_or_sqlite_store: Store) -> Store:
    return memory_or_sqlite_store


class TestEvents:
    survey = EventRule(id="survey", event="survey_completed", points=20, limit=1, limit_period="ever")

    def test_record_event_earns_once_and_is_idempotent(self, store: Store) -> None:
        engine = engine_for(store, Program("Club", "EUR", rules=[self.survey]))
        first = engine.record_event("M1", "survey_completed", id="E1", at=T0)
        assert (first.points, first.event, first.balance_after) == (20, "survey_completed", 20)
        assert engine.record_event("M1", "survey_completed", id="E1", at=T0) == first
        assert engine.record_event("M1", "survey_completed", id="E2", at=T0).points == 0
        with pytest.raises(IdempotencyConflict) as info:
            engine.record_event("M1", "review_posted", id="E1", at=T0)
        assert info.value.field == "name"
        (entry,) = engine.history("M1")
        assert (entry.reason, entry.rules, entry.source_id) == ("event survey_completed", ("survey",), "E1")

    def test_bad_events_write_nothing(self, store: Store) -> None:
        engine = engine_for(store, Program("Club", "EUR", rules=[self.survey]))
        assert engine.versions  # stores the program version before the snapshot
        before = snapshot(store, ["M1"], ["E1"])
        with pytest.raises(UnknownMember):
            engine.record_event("nobody", "survey_completed", id="E1", at=T0)
        with pytest.raises(InvalidInput) as info:
            engine.record_event("M1", "survey_completed", id="E1", at=T0.replace(tzinfo=None))
        assert info.value.field == "at"
        with pytest.raises(InvalidInput) as info:
            engine.record_event("M1", "survey_completed", id="E1", at=T0, properties={"score": 4.5})  # type: ignore[dict-item]
        assert info.value.field == "properties['score']"
        assert snapshot(store, ["M1"], ["E1"]) == before


class TestExplainingEvents:
    survey = EventRule(id="survey", event="survey_completed", points=20, limit=1, limit_period="month")
    review = EventRule(id="review", event="review_posted", points=5)
    bakery = SpendRule(id="bakery", points=1, categories=("bakery",))

    def test_explain_event_gives_every_rules_reason_and_writes_nothing(self, any_store: Store) -> None:
        engine = engine_for(any_store, Program("Club", "EUR", rules=[self.bakery, self.survey, self.review]))
        first = engine.explain_event("M1", "survey_completed", id="E1", at=T0)
        assert (first.points, first.balance_after) == (20, None)
        assert [(s.rule, s.reason) for s in first.skipped] == [
            ("review", "only for event review_posted"),
            ("base", "only for purchases"),
            ("bakery", "only for purchases"),
        ]
        assert engine.history("M1") == []
        assert engine.record_event("M1", "survey_completed", id="E1", at=T0).points == 20
        before = snapshot(any_store, ["M1"], ["E1", "E2"])
        second = engine.explain_event("M1", "survey_completed", id="E2", at=T0)
        assert second.points == 0
        assert ("survey", "limit of 1 per month reached") in [(s.rule, s.reason) for s in second.skipped]
        assert snapshot(any_store, ["M1"], ["E1", "E2"]) == before
        assert engine.record_event("M1", "survey_completed", id="E2", at=T0).points == second.points

    def test_explain_event_of_a_recorded_id_is_its_receipt_or_a_conflict(self, any_store: Store) -> None:
        engine = engine_for(any_store, Program("Club", "EUR", rules=[self.survey]))
        recorded = engine.record_event("M1", "survey_completed", id="E1", at=T0)
        assert engine.explain_event("M1", "survey_completed", id="E1", at=T0) == recorded
        with pytest.raises(IdempotencyConflict) as info:
            engine.explain_event("M1", "review_posted", id="E1", at=T0)
        assert info.value.field == "name"

    def test_explaining_a_bad_event_is_refused_and_writes_nothing(self, any_store: Store) -> None:
        engine = engine_for(any_store, Program("Club", "EUR", rules=[self.survey]))
        assert engine.versions
        before = snapshot(any_store, ["M1"], ["E1"])
        with pytest.raises(UnknownMember):
            engine.explain_event("nobody", "survey_completed", id="E1", at=T0)
        with pytest.raises(InvalidInput) as info:
            engine.explain_event("M1", "survey_completed", id="E1", at=T0.replace(tzinfo=None))
        assert info.value.field == "at"
        assert snapshot(any_store, ["M1"], ["E1"]) == before
