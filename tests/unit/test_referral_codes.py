"""Referral codes: only ASCII, never folded."""

from __future__ import annotations

import pytest

from loyalty import InvalidInput
from loyalty.referrals import normalize_code


def test_codes_outside_ascii_are_refused_not_folded() -> None:
    for code in ("straße12", "ﬃ1234", "ab"):
        with pytest.raises(InvalidInput):
            normalize_code(code)
