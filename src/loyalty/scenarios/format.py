"""The scenario file format (``*.loyalty.toml``), version 1: what a file may say, read strictly.

A file names its program (``program_file``, a path relative to the file, or an inline
``[program]`` table) and holds ``[[scenarios]]``, each a list of ``[[scenarios.steps]]``.
A step does one thing, named by its key (``purchase = {...}``, ``advance = {days = 30}``,
``maintenance = true``), optionally at a time of its own (``at``, which moves the clock
forward to it), and checks what came of it (``expect``). The classes below are the format:
the loader reads files into them with the same strict readers as program files, and
:mod:`loyalty.scenarios.schema` derives the JSON Schema from them, so the two cannot
disagree. Every problem is reported at once, each at its path:

>>> from loyalty.errors import ConfigError, LoyaltyError
>>> try:
...     scenario_file_from_dict({"format": 1, "start": "2024-03-01T09:00:00+01:00",
...         "program": {"name": "Club", "currency": "EUR"},
...         "scenarios": [{"name": "a", "steps": [{"purchse": {}}, {"redeem": {"id": "R1",
...             "member": "M1", "points": 1.5}}]}]})
... except ConfigError as error:
...     for path, message in error.problems:
...         print(f"{path}: {message}")
scenarios[0].steps[0].purchse: unknown key (did you mean 'purchase'?)
scenarios[0].steps[1].redeem.points: must be an int, not float 1.5
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
import cattrs.gen

from loyalty import schema
from loyalty.config import load_programs
from loyalty.documents import read_toml
from loyalty.errors import ConfigError, LoyaltyError
from loyalty.program import Program

__all__ = [
    "FORMAT",
    "SUFFIX",
    "Expect",
    "Scenario",
    "ScenarioFile",
    "Step",
    "load_scenario_file",
    "scenario_file_from_dict",
]

#: The version of the format this release reads (the ``format`` key of every file).
FORMAT = 1
#: How scenario files are named; pytest collects files so named.
SUFFIX = ".loyalty.toml"

Attributes = Mapping[str, str | int | bool]


@attrs.frozen
class LineSpec:
    """A basket line, as ``loyalty.Line`` takes it."""

    sku: str
    #: Units bought: an int, or a decimal string for weighed goods ("0.452").
    quantity: Decimal
    #: The price of one unit, a decimal string ("4.99").
    unit_price: Decimal
    category: str | None = None
    labels: Mapping[str, str] | None = None
    #: Money off the whole line.
    discount: Decimal | None = None
    #: The tax included in what the line costs after its discount.
    tax: Decimal | None = None


@attrs.frozen
class Enroll:
    """Enroll a member (``Engine.enroll``)."""

    member: str
    birthday: date | None = None
    attributes: Attributes | None = None
    #: Another member's referral code, or ``"@"`` and the member whose ``referral_code`` step
    #: made one ("@M1").
    referred_by: str | None = None
    #: Cards and keys, kind:value ("card:1234").
    identifiers: tuple[str, ...] | None = None


@attrs.frozen
class Buy:
    """Record a purchase (``Engine.record_purchase``); the step's points are the receipt's."""

    id: str
    member: str
    lines: tuple[LineSpec, ...]
    store: str | None = None
    terminal: str | None = None
    channel: str | None = None


@attrs.frozen
class Happen:
    """Record a non-purchase event (``Engine.record_event``); the step's points are the receipt's."""

    id: str
    member: str
    name: str
    properties: Attributes | None = None


@attrs.frozen
class ReturnedLine:
    """Units of a SKU brought back."""

    sku: str
    quantity: Decimal


@attrs.frozen
class GiveBack:
    """Return goods of a recorded purchase (``Engine.record_return``); the step's points are the
    points taken back. Without ``lines`` the whole purchase is returned (a void)."""

    id: str
    purchase: str
    lines: tuple[ReturnedLine, ...] | None = None


@attrs.frozen
class Redeem:
    """Spend points (``Engine.redeem``); the step's points are the entry's (negative)."""

    id: str
    member: str
    points: int
    #: The recorded purchase the points paid for.
    purchase: str | None = None


@attrs.frozen
class Adjust:
    """A staff correction (``Engine.adjust``); the step's points are the entry's."""

    id: str
    member: str
    points: int
    reason: str = "scenario"
    actor: str = "scenario"


@attrs.frozen
class Reserve:
    """Hold points for a while (``Engine.hold``); the step's points are the points held."""

    id: str
    member: str
    points: int
    #: How long the hold lasts on the engine clock.
    minutes: int = 15


@attrs.frozen
class Capture:
    """Spend a hold's points, all or ``points`` of them (``Engine.capture``); the step's points
    are the points captured."""

    id: str
    hold: str
    points: int | None = None


@attrs.frozen
class Release:
    """Give a hold's points back (``Engine.release``)."""

    hold: str


@attrs.frozen
class Advance:
    """Move the clock on; nothing runs by itself (maintenance is a step of its own)."""

    days: int = 0
    hours: int = 0
    minutes: int = 0


@attrs.frozen
class AssignTier:
    """Give a member a tier as a floor until a time (``Engine.assign_tier``)."""

    id: str
    member: str
    tier: str
    until: datetime
    reason: str = "scenario"
    actor: str = "scenario"


@attrs.frozen
class BuyReward:
    """Buy a catalogue reward with points (``Engine.redeem_reward``); the step's points are its cost."""

    id: str
    member: str
    reward: str
    purchase: str | None = None


@attrs.frozen
class UseVoucher:
    """Use a voucher at the till (``Engine.use_voucher``); the step's points are its reward's cost."""

    id: str
    #: The id of the ``reward`` step that bought it (or the voucher's code).
    voucher: str
    #: The recorded purchase it goes to.
    purchase: str | None = None


@attrs.frozen
class Move:
    """Move points between members (``Engine.transfer``); the step's points are the points moved."""

    id: str
    from_member: str
    to_member: str
    points: int


@attrs.frozen
class Merge:
    """Merge two members found to be one person (``Engine.merge_members``)."""

    id: str
    survivor: str
    absorbed: str
    reason: str = "scenario"


@attrs.frozen
class VoidVoucher:
    """Take an unused voucher back (``Engine.void_voucher``); the step's points are its cost."""

    id: str
    #: The id of the ``reward`` step that bought it (or the voucher's code).
    voucher: str


@attrs.frozen
class ChangeStatus:
    """Suspend, reinstate or close a member (``Engine.change_status``)."""

    id: str
    member: str
    #: ``"active"``, ``"suspended"`` or ``"closed"``.
    status: str
    reason: str = "scenario"
    actor: str = "scenario"


@attrs.frozen
class KeyChange:
    """Give a member a card or key, or take one off (``Engine.add_identifier``,
    ``Engine.remove_identifier``)."""

    id: str
    member: str
    #: ``kind:value`` ("card:1234", "phone:+31 6 1234 5678").
    key: str


@attrs.frozen
class ReplaceCard:
    """Replace a member's lost card with a new one (``Engine.replace_card``)."""

    id: str
    member: str
    #: The card taken out of use, ``card:...``.
    old: str
    #: The card given instead, ``card:...``.
    new: str


@attrs.frozen
class ReferralCode:
    """Give a member its referral code (``Engine.referral_code``), which an ``enroll`` step's
    ``referred_by`` then names."""

    member: str
    #: The merchant's own code; left out, one is made, and ``referred_by`` names it by this
    #: step's member ("@M1").
    code: str | None = None


@attrs.frozen
class ExpectBalance:
    """The member's points by state (``Engine.balance``); states left out are not checked."""

    available: int | None = None
    pending: int | None = None
    overdue: int | None = None
    held: int | None = None


@attrs.frozen
class ExpectLot:
    """A lot with points left: how many, and the day they expire (in the program's timezone)."""

    points: int
    #: The day the points expire; left out for points that never do.
    expires: date | None = None


@attrs.frozen
class Expect:
    """What a step must come to; each key left out is not checked.

    ``balance``, ``tier``, ``tier_value``, ``to_next`` and ``lots`` are the member's after the
    step: ``member``, or the member the step names.
    """

    #: Whose balance, tier and lots are checked (default: the member the step names).
    member: str | None = None
    #: The step's own figure: points earned, taken back, redeemed (negative), held, captured.
    points: int | None = None
    #: The points each rule gave on the step's receipt, by rule id.
    rules: Mapping[str, Decimal] | None = None
    #: Why rules gave nothing on the step's receipt, by rule id ("cap of 100/month reached").
    reasons: Mapping[str, str] | None = None
    balance: ExpectBalance | None = None
    #: The id of the member's tier.
    tier: str | None = None
    #: The member's tier metric (spend, points or visits in the window).
    tier_value: Decimal | None = None
    #: What the member still needs for the next tier.
    to_next: Decimal | None = None
    #: Every lot with points left, soonest-earned first.
    lots: tuple[ExpectLot, ...] | None = None
    #: The kinds of the outbox events the step wrote, in order ("tier_changed").
    events: tuple[str, ...] | None = None
    #: The class of the error the step must raise ("InsufficientPoints"), or one of its bases.
    error: str | None = None
    #: The field that error names ("points").
    field: str | None = None


#: The keys that name what a step does, each with the class of its table.
ACTIONS: Mapping[str, type] = {
    "enroll": Enroll,
    "purchase": Buy,
    "event": Happen,
    "returned": GiveBack,
    "redeem": Redeem,
    "adjust": Adjust,
    "hold": Reserve,
    "capture": Capture,
    "release": Release,
    "advance": Advance,
    "maintenance": bool,
    "assign_tier": AssignTier,
    "reward": BuyReward,
    "use_voucher": UseVoucher,
    "transfer": Move,
    "merge": Merge,
    "void_voucher": VoidVoucher,
    "status": ChangeStatus,
    "add_identifier": KeyChange,
    "remove_identifier": KeyChange,
    "replace_card": ReplaceCard,
    "referral_code": ReferralCode,
    "check": str,
}


@attrs.frozen
class Step:
    """One thing that happens, named by its key, and what must come of it (``expect``)."""

    #: When it happens: the clock moves forward to this instant first (never back).
    at: datetime | None = None
    enroll: Enroll | None = None
    purchase: Buy | None = None
    event: Happen | None = None
    returned: GiveBack | None = None
    redeem: Redeem | None = None
    adjust: Adjust | None = None
    hold: Reserve | None = None
    capture: Capture | None = None
    release: Release | None = None
    advance: Advance | None = None
    #: Run maintenance (``Engine.run_due``): expiries, ended holds, tier reviews.
    maintenance: bool | None = None
    assign_tier: AssignTier | None = None
    reward: BuyReward | None = None
    use_voucher: UseVoucher | None = None
    transfer: Move | None = None
    merge: Merge | None = None
    void_voucher: VoidVoucher | None = None
    status: ChangeStatus | None = None
    add_identifier: KeyChange | None = None
    remove_identifier: KeyChange | None = None
    replace_card: ReplaceCard | None = None
    referral_code: ReferralCode | None = None
    #: Do nothing but check ``expect`` for this member.
    check: str | None = None
    expect: Expect | None = None

    @property
    def action(self) -> tuple[str, Any]:
        """The step's one action: its key and value."""
        for key in ACTIONS:
            value = getattr(self, key)
            if value is not None and value is not False:
                return key, value
        raise AssertionError("a step read by the loader has an action")  # pragma: no cover


@attrs.frozen
class Scenario:
    """A story told step by step, in a store of its own."""

    #: What the scenario shows; its name as a test.
    name: str
    steps: tuple[Step, ...]
    #: When the scenario starts (default: the file's start).
    start: datetime | None = None


@attrs.frozen
class ScenarioFile:
    """A scenario file: its program and its scenarios, each run in a fresh store."""

    #: The version of the scenario format: 1.
    format: int
    #: When the scenarios start: the clock's first reading, which ``at`` and ``advance`` move on.
    start: datetime
    scenarios: tuple[Scenario, ...]
    #: The program file (.toml or .json, one program or versions), relative to this file.
    program_file: str | None = None
    #: The program itself, as in a program file (instead of program_file).
    program: Program | None = None
    #: Where the file was read from (not a key of the file).
    path: Path | None = attrs.field(default=None, init=False, eq=False)
    #: The program's versions, read from program_file or program (not a key of the file).
    versions: tuple[Program, ...] = attrs.field(default=(), init=False, eq=False)


# The annotations are text (``from __future__ import annotations``): made types once, for the
# converter and the JSON Schema alike.
_CLASSES: list[type] = [
    LineSpec,
    ReturnedLine,
    ExpectBalance,
    ExpectLot,
    Expect,
    Step,
    Scenario,
    ScenarioFile,
]
for _cls in [*_CLASSES, *(action for action in ACTIONS.values() if attrs.has(action))]:
    attrs.resolve_types(_cls)

_converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
schema.strict(_converter)


def _structure_program(value: object, _: object) -> Program:
    if not isinstance(value, Mapping):
        raise schema.Problem(f"must be a program table, not {schema.describe(value)}")
    return Program.from_dict(value)


_converter.register_structure_hook(Program, _structure_program)


def _table_hook(cls: type) -> Any:
    """Structure ``cls`` from a table, and refuse anything else by what it is ("must be a table,
    not int 5"), where cattrs would fail inside with a TypeError about iterating it."""
    build: Any = cattrs.gen.make_dict_structure_fn(cls, _converter)

    def structure(value: object, kind: Any) -> Any:
        if not isinstance(value, Mapping):
            raise schema.Problem(f"must be a table, not {schema.describe(value)}")
        return build(value, kind)

    return structure


_converter.register_structure_hook_factory(lambda cls: attrs.has(cls) and cls is not Program, _table_hook)
_ACTION_NAMES = ", ".join(ACTIONS)


def _step_problems(document: ScenarioFile) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if document.format != FORMAT:
        problems.append(("format", f"this release reads format {FORMAT}, not {document.format}"))
    if (document.program is None) == (document.program_file is None):
        problems.append(("program", "name the program: program_file = PATH or a [program] table, not both"))
    names: dict[str, int] = {}
    for i, scenario in enumerate(document.scenarios):
        if scenario.name in names:
            problems.append((f"scenarios[{i}].name", f"same as scenarios[{names[scenario.name]}]"))
        names.setdefault(scenario.name, i)
        if not scenario.steps:
            problems.append((f"scenarios[{i}].steps", "a scenario needs at least one step"))
        for j, step in enumerate(scenario.steps):
            done = [key for key in ACTIONS if getattr(step, key) not in (None, False)]
            where = f"scenarios[{i}].steps[{j}]"
            if not done:
                problems.append((where, f"no action: a step does one of {_ACTION_NAMES}"))
            elif len(done) > 1:
                problems.append((where, f"{' and '.join(done)}: a step does one thing"))
            if step.expect is not None and step.expect.field is not None and step.expect.error is None:
                problems.append((f"{where}.expect.field", "the field of an error: say which error too"))
            if step.advance is not None:
                problems += _advance_problems(f"{where}.advance", step.advance)
    return problems


#: How far one ``advance`` may move the clock: a century, far more than any program's period.
_LONGEST = timedelta(days=36_525)


def _advance_problems(where: str, advance: Advance) -> list[tuple[str, str]]:
    problems = [
        (f"{where}.{field.name}", "must not be negative: the clock moves on, never back")
        for field in attrs.fields(Advance)
        if getattr(advance, field.name) < 0
    ]
    # In whole minutes, as Python ints: a timedelta of a huge count would overflow first.
    minutes = (advance.days * 24 + advance.hours) * 60 + advance.minutes
    if not problems and minutes > _LONGEST // timedelta(minutes=1):
        problems.append((where, f"moves the clock more than {_LONGEST.days:,} days at once"))
    return problems


def _rule_problems(document: ScenarioFile, versions: tuple[Program, ...]) -> list[tuple[str, str]]:
    """Rules an expectation names that no version of the program has: a misspelt id would give
    0 points and no reason, so an expectation of 0 would pass whatever the rule does."""
    known = sorted({rule.id for v in versions for rule in (*v.index.ordered, *v.index.ordered_events)})
    problems: list[tuple[str, str]] = []
    for i, scenario in enumerate(document.scenarios):
        for j, step in enumerate(scenario.steps):
            for field in ("rules", "reasons"):
                named = None if step.expect is None else getattr(step.expect, field)
                for rule in named or ():
                    if rule not in known:
                        close = difflib.get_close_matches(rule, known, n=1, cutoff=0.6)
                        hint = f" (did you mean {close[0]!r}?)" if close else ""
                        where = f"scenarios[{i}].steps[{j}].expect.{field}{schema.key_path(rule)}"
                        problems.append((where, f"the program has no rule {rule!r}{hint}"))
    return problems


def scenario_file_from_dict(data: Mapping[str, Any], path: Path | None = None) -> ScenarioFile:
    """The scenario file written as ``data``; ``path`` is where it was read from (program files
    are found relative to it). Every problem is raised at once as a :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError([("", f"must be a table of key = value, not {schema.describe(data)}")])
    try:
        document = _converter.structure(data, ScenarioFile)
    except Exception as exc:  # cattrs' exception groups, flattened into paths
        raise ConfigError(list(dict.fromkeys(schema.problems(exc)))) from None
    problems = _step_problems(document)
    versions: tuple[Program, ...] = () if document.program is None else (document.program,)
    if document.program_file is not None and document.program is None:
        where = (path.parent if path is not None else Path.cwd()) / document.program_file
        try:
            versions = load_programs(where)
        except ConfigError as exc:
            problems += [(f"program_file: {where}" + (f": {p}" if p else ""), m) for p, m in exc.problems]
        except LoyaltyError as exc:  # no such file, not a file
            problems.append(("program_file", str(exc)))
    if versions:
        problems += _rule_problems(document, versions)
    if problems:
        raise ConfigError(problems)
    object.__setattr__(document, "path", path)
    object.__setattr__(document, "versions", versions)
    return document


def load_scenario_file(path: str | os.PathLike[str]) -> ScenarioFile:
    """Read and check the scenario file at ``path`` (TOML); its program is loaded with it."""
    where = Path(path)
    return scenario_file_from_dict(read_toml(where), where)
