"""The program files in docs/expiry.md load as the guide says."""

from __future__ import annotations

import re

from loyalty import Program
from loyalty.expiry import EndOf, Expiry, ExpiryPolicy
from loyalty.lots import DrawOrder
from tests.paths import DOCS


def test_the_guide_s_program_file_loads() -> None:
    guide = (DOCS / "expiry.md").read_text(encoding="utf-8")
    snippet, oldest_first, redating = re.findall(r"```toml\n(.*?)```", guide, re.DOTALL)
    loaded = Program.from_toml(snippet)
    assert (loaded.pending_days, loaded.expiry) == (
        14,
        Expiry(ExpiryPolicy.LIFETIME, months=12, round_up=EndOf.MONTH),
    )
    assert Program.from_toml(redating).expiry == Expiry(ExpiryPolicy.LIFETIME, months=24, redate_earlier=True)
    assert Program.from_toml(oldest_first).expiry == Expiry(
        ExpiryPolicy.LIFETIME, months=12, draw=DrawOrder.OLDEST_EARNED
    )
