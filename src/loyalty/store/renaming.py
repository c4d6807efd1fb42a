"""What the SQL adapters' erasures do alike when they rename a member (:mod:`loyalty.pseudonyms`):
find the records, events and tallies that hold its id from rows a text search found, and draw
the store's secret. A text search finds more than the fields that hold the id (a SKU equal to
it): what is kept is what :func:`loyalty.pseudonyms.mentions` says holds it as a member id."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from decimal import Decimal

from loyalty.erasure import Record
from loyalty.outbox import DomainEvent
from loyalty.pseudonyms import SECRET_BYTES, mentions, renamed_tally, secret_points
from loyalty.records import EntryFacts, unpack_operation

__all__ = ["drawn_secret", "needle", "records_mentioning", "tallies_renamed"]


def needle(member_id: str) -> str:
    """The text a row holding ``member_id`` holds: its JSON form without the quotes (a tally
    key holds it so too)."""
    return json.dumps(member_id, ensure_ascii=False)[1:-1]


def records_mentioning(
    rows: Iterable[tuple[str, str, str] | tuple[str, str, str, EntryFacts | None]],
    events: Iterable[DomainEvent],
    member_id: str,
) -> tuple[list[Record], list[DomainEvent]]:
    """Of the records (``key``, ``kind``, packed body, and what the entry that keeps one says of
    it, if anything) and events a search for :func:`needle` found, those that hold ``member_id``
    as a member id: :meth:`loyalty.store.ErasureRole.mentioning`."""
    records = []
    for key, kind, body, *entry in rows:
        request, result = unpack_operation(key, body, entry[0] if entry else None)
        if mentions(request, member_id) or mentions(result, member_id):
            records.append(Record(key, kind, request, result))
    found = [event for event in events if mentions(event.data, member_id)]
    return sorted(records, key=lambda record: record.key), found


def tallies_renamed(keys: Iterable[str], old: str, new: str) -> list[tuple[str, str]]:
    """Of the tally ``keys`` a search for :func:`needle` found, each of member ``old``'s with
    its key under ``new`` (:func:`loyalty.pseudonyms.renamed_tally`)."""
    renamed = ((key, renamed_tally(key, old, new)) for key in keys)
    return [(key, other) for key, other in renamed if other is not None]


def drawn_secret() -> Decimal:
    """A new secret for the store, as the points of its tally (:data:`~loyalty.pseudonyms.SECRET_KEY`)."""
    return secret_points(secrets.token_bytes(SECRET_BYTES))
