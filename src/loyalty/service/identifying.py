"""Members' cards and keys: giving, replacing and removing them, and finding a member by one.

Each command locks the member and the members its keys are stored under (a key changes only
under its owner's lock, so a removed key given again cannot go to two members at once), reads
the keys as stored, asks :mod:`loyalty.identifiers` what to write, writes it with its outbox
event and its idempotency record, and commits once. Two members racing for a key never given
both find it free; the store's unique key makes the second writer retry, and the retry finds
it taken.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from loyalty import codec
from loyalty.checks import check_id
from loyalty.errors import InvalidInput, MemberAlreadyEnrolled, TransientStorageError
from loyalty.identifiers import (
    Identifier,
    IdentifierKind,
    key_text,
    member_of,
    parse_key,
    plan_add,
    plan_remove,
    plan_replace,
)
from loyalty.members import Member
from loyalty.outbox import EventKind, NewEvent
from loyalty.service import locks
from loyalty.service.context import Context
from loyalty.service.idempotency import Command
from loyalty.store import UnitOfWork
from loyalty.versions import in_force

__all__ = ["add", "check_keys", "enrolled", "find_member", "identifiers", "remove", "replace_card"]

Key = tuple[IdentifierKind, str]


def _locked(uow: UnitOfWork, member_id: str, keys: list[Key]) -> list[Identifier | None]:
    """The keys as stored, read under the locks of ``member_id`` and of the keys' owners, taken in
    member-id order. A key that changed hands between the first read and the locks makes the
    command run again (the runner retries it), as a lost race does."""
    owners = {member_id} | {found.member_id for key in keys if (found := uow.identifier(*key)) is not None}
    for owner in sorted(owners):
        locks.lock(uow, owner)
    stored = [uow.identifier(*key) for key in keys]
    for found in stored:
        if found is not None and found.member_id not in owners:
            raise TransientStorageError(None, f"{found.key} changed hands while it was read")
    return stored


def _write(uow: UnitOfWork, found: Identifier | None, identifier: Identifier) -> None:
    if found is None:
        uow.add_identifier(identifier)
    else:
        uow.update_identifier(identifier)


def _event(
    kind: EventKind, identifier: Identifier, at: datetime, now: datetime, source: str, **data: str
) -> NewEvent:
    return NewEvent(kind, identifier.member_id, at, now, source, data)


def _checked(ctx: Context, id: str, at: datetime) -> None:
    check_id("id", id)
    ctx.till_time("at", at, id)


def add(ctx: Context, member_id: str, key: str, *, id: str, at: datetime) -> Identifier:
    """Give the member a key (see :meth:`loyalty.Engine.add_identifier`)."""
    check_id("member_id", member_id)
    kind, value = parse_key(key)
    _checked(ctx, id, at)
    adding = Command(
        id, "identifier_add", {"member_id": member_id, "key": key_text(kind, value), "at": at.isoformat()}
    )

    def command(uow: UnitOfWork) -> Identifier:
        replay = adding.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Identifier)
        (found,) = _locked(uow, member_id, [(kind, value)])
        locks.allowed(uow, member_id, locks.CHANGE)
        planned = plan_add(found, member_id, kind, value, at)
        now = ctx.now()
        if planned is None:
            assert found is not None  # the member's already: nothing to write but the record
            given = found
        else:
            _write(uow, found, planned)
            uow.add_event(_event(EventKind.IDENTIFIER_ADDED, planned, at, now, id, key=planned.key))
            given = planned
        adding.remember(uow, codec.unstructure(given), now)
        uow.commit()
        return given

    return adding.run(ctx.runner, command)


def replace_card(
    ctx: Context, member_id: str, old_key: str, new_key: str, *, id: str, at: datetime
) -> Identifier:
    """Replace the member's card with another (see :meth:`loyalty.Engine.replace_card`)."""
    check_id("member_id", member_id)
    old, new = parse_key(old_key, "old_key"), parse_key(new_key, "new_key")
    _checked(ctx, id, at)
    request = {
        "member_id": member_id,
        "old_key": key_text(*old),
        "new_key": key_text(*new),
        "at": at.isoformat(),
    }
    replacing = Command(id, "card_replace", request)

    def command(uow: UnitOfWork) -> Identifier:
        replay = replacing.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Identifier)
        found_old, found_new = _locked(uow, member_id, [old, new])
        locks.allowed(uow, member_id, locks.CHANGE)
        retired, added = plan_replace(found_old, found_new, member_id, old, new, at)
        now = ctx.now()
        uow.update_identifier(retired)
        _write(uow, found_new, added)
        uow.add_event(
            _event(EventKind.IDENTIFIER_REPLACED, added, at, now, id, old=retired.key, new=added.key)
        )
        replacing.remember(uow, codec.unstructure(added), now)
        uow.commit()
        return added

    return replacing.run(ctx.runner, command)


def remove(ctx: Context, member_id: str, key: str, *, id: str, at: datetime) -> Identifier:
    """Take a key off the member (see :meth:`loyalty.Engine.remove_identifier`)."""
    check_id("member_id", member_id)
    kind, value = parse_key(key)
    _checked(ctx, id, at)
    request = {"member_id": member_id, "key": key_text(kind, value), "at": at.isoformat()}
    removing = Command(id, "identifier_remove", request)

    def command(uow: UnitOfWork) -> Identifier:
        replay = removing.replay(uow)
        if replay is not None:
            return codec.structure(replay.result, Identifier)
        locks.lock(uow, member_id)
        # Any status but erased (whose keys are gone): a refusal saying so, not an unknown key.
        locks.not_erased(uow, member_id)
        # A key's owner is this member or it is not the member's to remove: its lock is enough.
        removed = plan_remove(uow.identifier(kind, value), member_id, kind, value)
        now = ctx.now()
        uow.update_identifier(removed)
        uow.add_event(_event(EventKind.IDENTIFIER_REMOVED, removed, at, now, id, key=removed.key))
        removing.remember(uow, codec.unstructure(removed), now)
        uow.commit()
        return removed

    return removing.run(ctx.runner, command)


def check_keys(keys: Iterable[str] | None) -> list[Key]:
    """An enrollment's ``identifiers``, each in normal form; a bad one or a repeat raises
    :class:`InvalidInput` naming ``identifiers[i]``."""
    if keys is None:
        return []
    if isinstance(keys, str) or not isinstance(keys, Iterable):
        raise InvalidInput("identifiers", f"must be a list of keys kind:value, not {type(keys).__name__}")
    parsed: list[Key] = []
    for i, key in enumerate(keys):
        field = f"identifiers[{i}]"
        found = parse_key(key, field)
        if found in parsed:
            raise InvalidInput(field, f"repeats identifiers[{parsed.index(found)}]")
        parsed.append(found)
    return parsed


def enrolled(ctx: Context, uow: UnitOfWork, member: Member, keys: list[Key], *, new: bool) -> None:
    """Give a member being enrolled its keys, in the enrollment's unit of work (``new``); for an
    enrollment that is a retry, check the keys are the member's (any other details raise
    :class:`~loyalty.errors.MemberAlreadyEnrolled` naming ``identifiers``)."""
    at = member.enrolled_at
    stored = _locked(uow, member.id, keys) if new and keys else [uow.identifier(*key) for key in keys]
    for i, ((kind, value), found) in enumerate(zip(keys, stored, strict=True)):
        if not new:
            if found is None or found.member_id != member.id:
                raise MemberAlreadyEnrolled(
                    "identifiers",
                    f"member {member.id!r} is already enrolled, without {key_text(kind, value)}",
                )
            continue
        planned = plan_add(found, member.id, kind, value, at, f"identifiers[{i}]")
        assert planned is not None  # a new member has no keys, and the keys are not repeated
        _write(uow, found, planned)
        # An enrollment has no id of its own: the member's id is its key, and "enrolled" says it.
        uow.add_event(_event(EventKind.IDENTIFIER_ADDED, planned, at, ctx.now(), "enrolled", key=planned.key))


def find_member(ctx: Context, key: str) -> Member:
    """The member a key finds (see :meth:`loyalty.Engine.find_member`)."""
    kind, value = parse_key(key)
    now = ctx.now()

    def query(uow: UnitOfWork) -> Member:
        program = in_force(ctx.programs.in_uow(uow), now, default_first=True)
        member_id = member_of(uow.identifier(kind, value), program.identifiers, key_text(kind, value))
        member = uow.member(member_id)
        assert member is not None  # a key is given only to a member
        return member

    return ctx.runner.read(query)


def identifiers(ctx: Context, member_id: str) -> list[Identifier]:
    """The member's keys, every status (see :meth:`loyalty.Engine.identifiers`)."""
    check_id("member_id", member_id)

    def query(uow: UnitOfWork) -> list[Identifier]:
        locks.known(uow, member_id)
        return uow.identifiers(member_id)

    return ctx.runner.read(query)
