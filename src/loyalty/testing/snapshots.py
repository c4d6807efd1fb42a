"""A comparable picture of what a store holds for some members and keys.

Tests take one before and after a refused command: equal pictures mean the
command wrote nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loyalty.store import Store

__all__ = ["snapshot"]


def snapshot(
    store: Store,
    member_ids: Iterable[str],
    operation_keys: Iterable[str] = (),
    tally_keys: Iterable[str] = (),
    *,
    programs: bool = False,
    terminals: Iterable[str] = (),
) -> dict[str, Any]:
    """Members (balance, history, lots, holds, tier, cards and keys), operations and tallies under the
    given ids and keys.

    ``programs=True`` adds every stored program version (left out by default:
    an engine may record the version it runs on first use, even for a command
    that is then refused). ``terminals`` adds each terminal's offline allowances, each with
    its members' use (:mod:`loyalty.offline`).
    """
    with store.unit_of_work(readonly=True) as uow:
        picture: dict[str, Any] = {
            "members": {
                m: (
                    uow.member(m),
                    uow.balance(m),
                    uow.history(m),
                    uow.lots(m),
                    uow.open_holds(m),
                    uow.tier_state(m),
                    uow.identifiers(m),
                )
                for m in member_ids
            },
            "operations": {k: uow.operation(k) for k in operation_keys},
            "tallies": uow.tallies(list(tally_keys)),
        }
        if programs:
            picture["programs"] = uow.program_versions()
        if terminals:
            picture["offline"] = {
                t: [(allowance, uow.offline_uses(allowance.id)) for allowance in uow.offline_allowances(t)]
                for t in terminals
            }
        return picture
