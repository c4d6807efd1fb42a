"""Review (helper 7): races of an erasure against writers naming the erased member that
fa39fc9 did not cover: a transfer's sender part naming its receiver, and an enrollment naming
its referrer by code. Same harness as test_postgres_erasure_races."""

from __future__ import annotations

from functools import partial

import pytest

from loyalty import Engine
from loyalty.errors import LoyaltyError
from loyalty.testing.contract import T0
from tests.store.test_postgres_erasure_races import DELAYS, _at_once, _engines, _erase, _left, _pairs, _send

pytestmark = pytest.mark.postgres


def test_a_receiver_erased_while_a_transfer_to_it_is_sent_leaves_no_id(store_url: str) -> None:
    sender, eraser = _engines(store_url)
    pairs = _pairs()
    with sender, eraser:
        for n, (frm, to) in enumerate(pairs):
            sender.enroll(frm, at=T0)
            sender.enroll(to, at=T0)
            sender.adjust(frm, 5, id=f"A{n}", at=T0, reason="start", actor="clerk")
        for n, (frm, to) in enumerate(pairs):
            send, erase = partial(_send, f"T{n}", frm, to), partial(_erase, f"E{n}", to)
            _at_once((sender, eraser), send, erase, DELAYS[n % len(DELAYS)])
        sender.run_due()
        assert sender.verify().ok
    assert _left(store_url, [to for _, to in pairs]) == []


def _join(referee: str, code: str, engine: Engine) -> object:
    try:
        return engine.enroll(referee, at=T0, referred_by=code)
    except LoyaltyError as exc:  # the code gone with its erased member: refused, fine
        return exc


def test_a_referrer_erased_while_a_referee_enrolls_with_its_code_leaves_no_id(store_url: str) -> None:
    joiner, eraser = _engines(store_url)
    pairs = _pairs()
    with joiner, eraser:
        codes = []
        for referrer, _ in pairs:
            joiner.enroll(referrer, at=T0)
            codes.append(joiner.referral_code(referrer))
        for n, ((referrer, referee), code) in enumerate(zip(pairs, codes, strict=True)):
            join, erase = partial(_join, referee, code), partial(_erase, f"E{n}", referrer)
            _at_once((joiner, eraser), join, erase, DELAYS[n % len(DELAYS)])
        joiner.run_due()
        assert joiner.verify().ok
    assert _left(store_url, [referrer for referrer, _ in pairs]) == []
