"""One text rule, one outcome on every adapter: the same hostile strings reach every place a
person's text enters (a program's names at load, reasons and attribute values at the call),
and every actor, which follows the id rule instead.

NUL and lone surrogates are refused before any write, naming the field (its path at load);
text past the place's bound is refused alike; bidi overrides and zero-width characters are
text like any other and come back as they went in, from every store. A program's name is an
id (``check_id``), so it refuses those two as well.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from loyalty import Engine, InvalidId, InvalidInput, Line, Program, Purchase
from loyalty.checks import MAX_ID_LENGTH, MAX_NAME_LENGTH, MAX_TEXT_LENGTH
from loyalty.store import Store
from loyalty.testing.contract import T0
from loyalty.testing.snapshots import snapshot
from tests.adapters import ADAPTERS, ONE_CONNECTION, fresh_store

REFUSED_CHARACTERS = "must not contain NUL characters or lone surrogates"
REFUSED_ID = "must not contain control characters"

#: The hostile strings, each with the outcome every text place gives it (``None``: accepted as it is).
HOSTILE: dict[str, tuple[str, str | None]] = {
    "NUL": ("Gold\x00", REFUSED_CHARACTERS),
    "lone surrogate": ("Gold\ud800", REFUSED_CHARACTERS),
    "RTL override": ("Gold \u202edlog", None),
    "zero-width space": ("Go\u200bld", None),
}


@pytest.fixture(params=ADAPTERS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with fresh_store(request.param, tmp_path, ONE_CONNECTION) as store:
        yield store


# -- a program's names, refused at load with their path -------------------------------------------


def _program(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Club",
        "currency": "EUR",
        "rules": [{"kind": "spend", "id": "double", "name": "Double", "points": 1}],
        "tiers": {
            "levels": [{"id": "member"}, {"id": "gold", "name": "Gold", "threshold": 1, "multiplier": "2"}]
        },
        "rewards": [{"id": "coffee", "name": "Coffee", "cost": 5, "gives": "voucher"}],
    }
    data.update(changes)
    return data


def _with_rule_name(text: str) -> dict[str, Any]:
    return _program(rules=[{"kind": "spend", "id": "double", "name": text, "points": 1}])


def _with_tier_name(text: str) -> dict[str, Any]:
    levels = [{"id": "member"}, {"id": "gold", "name": text, "threshold": 1, "multiplier": "2"}]
    return _program(tiers={"levels": levels})


def _with_reward_name(text: str) -> dict[str, Any]:
    return _program(rewards=[{"id": "coffee", "name": text, "cost": 5, "gives": "voucher"}])


#: Where a program's text is, the path a refusal names, and the longest text it takes.
LOAD_PLACES: dict[str, tuple[Callable[[str], dict[str, Any]], str, int]] = {
    "rule name": (_with_rule_name, "rules[0].name", MAX_NAME_LENGTH),
    "tier name": (_with_tier_name, "tiers.levels[1].name", MAX_NAME_LENGTH - len(" tier")),
    "reward name": (_with_reward_name, "rewards[0].name", MAX_NAME_LENGTH),
    "program name": (lambda text: _program(name=text), "name", MAX_ID_LENGTH),
}


def _load(place: str, text: str) -> Program | str:
    """The program, or the one problem its loading reports (``path: message``)."""
    build, _, _ = LOAD_PLACES[place]
    try:
        return Program.from_dict(build(text))
    except InvalidInput as exc:
        problems = getattr(exc, "problems", [(exc.field, str(exc))])
        assert len(problems) == 1, problems
        path, message = problems[0]
        return f"{path}: {message}"


def _expected_at_load(place: str, hostile: str) -> str | None:
    _, path, _ = LOAD_PLACES[place]
    _, refusal = HOSTILE[hostile]
    if place == "program name":
        refusal = REFUSED_ID  # an id refuses every control and format character
    return None if refusal is None else f"{path}: {refusal}"


def _names_stored(store: Store, program: Program) -> list[str]:
    """The rule names of a purchase's receipt at gold, as a second engine reads it back."""
    engine = Engine(program, store, clock=lambda: T0)
    engine.enroll("M1", at=T0)
    engine.record_purchase(Purchase("P0", "M1", T0, [Line("sku", 1, Decimal("3.00"))], "EUR"))  # to gold
    purchase = Purchase("P1", "M1", T0, [Line("sku", 1, Decimal("3.00"))], "EUR")
    engine.record_purchase(purchase)
    again = Engine(program, store, clock=lambda: T0 + timedelta(minutes=1)).record_purchase(purchase)
    engine.redeem_reward("M1", "coffee", id="V1", at=T0)
    return [part.name for part in again.breakdown]


@pytest.mark.parametrize("hostile", list(HOSTILE))
@pytest.mark.parametrize("place", list(LOAD_PLACES))
def test_a_programs_text_is_refused_at_load_with_its_path_or_loads(place: str, hostile: str) -> None:
    # Refused before any engine or store exists: no adapter can differ.
    text, _ = HOSTILE[hostile]
    expected = _expected_at_load(place, hostile)
    loaded = _load(place, text)
    assert loaded == expected if expected is not None else isinstance(loaded, Program)


ACCEPTED = [
    (place, hostile)
    for place in LOAD_PLACES
    for hostile in HOSTILE
    if _expected_at_load(place, hostile) is None
]


@pytest.mark.parametrize(("place", "hostile"), ACCEPTED)
def test_a_programs_accepted_text_comes_back_from_every_adapter(
    store: Store, place: str, hostile: str
) -> None:
    text, _ = HOSTILE[hostile]
    loaded = _load(place, text)
    assert isinstance(loaded, Program)
    names = _names_stored(store, loaded)
    if place == "rule name":
        assert text in names
    if place == "tier name":
        assert f"{text} tier" in names
    if place == "reward name":
        assert loaded.rewards[0].name == text


@pytest.mark.parametrize("place", list(LOAD_PLACES))
def test_a_programs_text_is_bounded_where_it_is_loaded(place: str) -> None:
    build, path, longest = LOAD_PLACES[place]
    assert isinstance(Program.from_dict(build("x" * longest)), Program)
    assert (
        _load(place, "x" * (longest + 1))
        == f"{path}: must be at most {longest} characters, got {longest + 1}"
    )


# -- reasons and attribute values, refused at the call naming the field ---------------------------

Call = Callable[[Engine, str, str], object]

#: Where a command's text is, the field a refusal names, and how to read the text back (or None).
#: Each call takes the test's prefix ``p`` of its members and ids: the tests share a store.
CALL_PLACES: dict[str, tuple[Call, str, Callable[[Engine, str], object] | None]] = {
    "enrollment attribute": (
        lambda e, text, p: e.enroll(f"{p}M3", at=T0, attributes={"note": text}),
        "attributes['note']",
        lambda e, p: e.member(f"{p}M3").attributes["note"],
    ),
    "updated attribute": (
        lambda e, text, p: e.update_member(f"{p}M1", id=f"{p}U", at=T0, attributes={"note": text}),
        "attributes['note']",
        lambda e, p: e.member(f"{p}M1").attributes["note"],
    ),
    "adjustment reason": (
        lambda e, text, p: e.adjust(f"{p}M1", 5, id=f"{p}A", at=T0, reason=text, actor="staff"),
        "reason",
        lambda e, p: e.history(f"{p}M1")[-1].reason,
    ),
    "redemption reason": (
        lambda e, text, p: e.redeem(f"{p}M1", 5, id=f"{p}R", at=T0, reason=text),
        "reason",
        lambda e, p: e.history(f"{p}M1")[-1].reason,
    ),
    "transfer reason": (
        lambda e, text, p: e.transfer(f"{p}M1", f"{p}M2", 5, id=f"{p}T", at=T0, reason=text),
        "reason",
        None,
    ),
    "status reason": (
        lambda e, text, p: e.change_status(
            f"{p}M2", "suspended", id=f"{p}S", at=T0, reason=text, actor="staff"
        ),
        "reason",
        None,
    ),
    "tier assignment reason": (
        lambda e, text, p: e.assign_tier(
            f"{p}M2", "gold", until=T0 + timedelta(days=30), id=f"{p}G", at=T0, reason=text, actor="staff"
        ),
        "reason",
        None,
    ),
    "merge reason": (
        lambda e, text, p: e.merge_members(f"{p}M1", f"{p}M2", id=f"{p}X", at=T0, reason=text),
        "reason",
        None,
    ),
}


@pytest.fixture(scope="module", params=ADAPTERS)
def shared_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One store per adapter for the commands' tests (a PostgreSQL schema costs half a second)."""
    with fresh_store(request.param, tmp_path_factory.mktemp("hostile"), ONE_CONNECTION) as store:
        yield store


def _two_members(store: Store, p: str) -> Engine:
    """An engine on the shared store with members ``p``M1 (100 points) and ``p``M2."""
    engine = Engine(Program.from_dict(_program()), store, clock=lambda: T0)
    engine.enroll(f"{p}M1", at=T0)
    engine.enroll(f"{p}M2", at=T0)
    engine.adjust(f"{p}M1", 100, id=f"{p}A1", at=T0, reason="welcome", actor="staff")
    return engine


@pytest.mark.parametrize("hostile", [*HOSTILE, "overlong"])
@pytest.mark.parametrize("place", list(CALL_PLACES))
def test_a_commands_text_has_one_outcome_on_every_adapter(
    shared_store: Store, place: str, hostile: str
) -> None:
    call, field, read = CALL_PLACES[place]
    if hostile == "overlong":
        text = "x" * (MAX_TEXT_LENGTH + 1)
        refusal: str | None = f"must be at most {MAX_TEXT_LENGTH} characters, got {MAX_TEXT_LENGTH + 1}"
    else:
        text, refusal = HOSTILE[hostile]
    p = f"{place}/{hostile}/"
    engine = _two_members(shared_store, p)
    members = [f"{p}M{n}" for n in (1, 2, 3)]
    keys = [f"{p}{k}" for k in "UARTSGX"]
    before = snapshot(shared_store, members, keys)
    if refusal is not None:
        with pytest.raises(InvalidInput) as info:
            call(engine, text, p)
        assert str(info.value) == f"{field}: {refusal}"
        assert snapshot(shared_store, members, keys) == before
        return
    call(engine, text, p)
    if read is not None:
        assert read(engine, p) == text


# -- actors, who did it: one id rule for every command that takes one -----------------------------

#: Each hostile string with the outcome every ``actor`` gives it: an actor is a member of staff's
#: id, so the id rule (``check_id``) refuses every control and format character, bidi overrides
#: and zero-width ones too, blank text and text past ``MAX_ID_LENGTH``.
ACTORS: dict[str, tuple[str, str | None]] = {
    **{hostile: (text, REFUSED_ID) for hostile, (text, _) in HOSTILE.items()},
    "blank": (" ", "must not be empty"),
    "overlong": (
        "x" * (MAX_ID_LENGTH + 1),
        f"must be at most {MAX_ID_LENGTH} characters, got {MAX_ID_LENGTH + 1}",
    ),
    "longest": ("x" * MAX_ID_LENGTH, None),
    "SQL and unicode": ("'; DROP TABLE entries; -- ünïcødé 会员 🎉", None),
}


def _erasure_actor(engine: Engine, p: str) -> object:
    with engine.store.unit_of_work(readonly=True) as uow:
        record = uow.operation(f"{p}E")
    assert record is not None
    return record.request["actor"]


#: Every command that takes an ``actor``, and how to read it back.
ACTOR_PLACES: dict[str, tuple[Call, Callable[[Engine, str], object]]] = {
    "adjustment": (
        lambda e, text, p: e.adjust(f"{p}M1", 5, id=f"{p}A", at=T0, reason="r", actor=text),
        lambda e, p: e.history(f"{p}M1")[-1].actor,
    ),
    "status change": (
        lambda e, text, p: e.change_status(f"{p}M2", "suspended", id=f"{p}S", at=T0, reason="r", actor=text),
        lambda e, p: e.events(limit=10_000)[-1].data["actor"],
    ),
    "tier assignment": (
        lambda e, text, p: e.assign_tier(
            f"{p}M2", "gold", until=T0 + timedelta(days=30), id=f"{p}G", at=T0, reason="r", actor=text
        ),
        lambda e, p: e.history(f"{p}M2")[-1].actor,
    ),
    "erasure": (
        lambda e, text, p: e.erase(f"{p}M2", id=f"{p}E", at=T0, reason="r", actor=text),
        _erasure_actor,
    ),
    "offline allowance": (
        lambda e, text, p: e.grant_offline_allowance(
            f"{p}till", id=f"{p}O", at=T0, per_member=5, total=10, until=T0 + timedelta(days=1), actor=text
        ),
        lambda e, p: e.offline_report(f"{p}till")[0].allowance.actor,
    ),
}


@pytest.mark.parametrize("hostile", list(ACTORS))
@pytest.mark.parametrize("place", list(ACTOR_PLACES))
def test_an_actor_follows_the_id_rule_on_every_adapter(shared_store: Store, place: str, hostile: str) -> None:
    call, read = ACTOR_PLACES[place]
    text, refusal = ACTORS[hostile]
    p = f"actor/{place}/{hostile}/"
    engine = _two_members(shared_store, p)
    members = [f"{p}M1", f"{p}M2"]
    keys = [f"{p}{k}" for k in "ASGEO"]
    before = snapshot(shared_store, members, keys, terminals=[f"{p}till"])
    if refusal is not None:
        with pytest.raises(InvalidId) as info:
            call(engine, text, p)
        assert str(info.value) == f"actor: {refusal}"
        assert snapshot(shared_store, members, keys, terminals=[f"{p}till"]) == before
        return
    call(engine, text, p)
    assert read(engine, p) == text
