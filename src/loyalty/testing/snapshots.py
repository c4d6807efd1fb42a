"""A comparable picture of what a store holds for some members and keys.

Tests take one before and after a refused command: equal pictures mean the
command wrote nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from loyalty.store import Store

__all__ = ["snapshot"]


def snapshot(store: Store, member_ids: Iterable[str], operation_keys: Iterable[str] = ()) -> dict[str, Any]:
    with store.unit_of_work(readonly=True) as uow:
        return {
            "members": {m: (uow.member(m), uow.balance(m), uow.history(m)) for m in member_ids},
            "operations": {k: uow.operation(k) for k in operation_keys},
        }
