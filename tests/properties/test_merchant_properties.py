"""The worked property tests of docs/testing-your-program.md, run as the guide writes them.

Each ``python`` block of the guide that defines Hypothesis tests is run in a namespace of its
own (after the blocks before it, as a reader would paste them), from the project's root, where
the guide's paths lead; then each ``test_`` function it defined is called.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from tests.paths import DOCS, ROOT

GUIDE = (DOCS / "testing-your-program.md").read_text(encoding="utf-8")
PROPERTY_BLOCKS = [
    block for block in re.findall(r"```python\n(.*?)```", GUIDE, re.DOTALL) if "@given" in block
]


def guide_tests(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], Any]]:
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {}
    for block in PROPERTY_BLOCKS:
        # Compiled at the block's own lines of the guide: tracebacks point there, and Hypothesis,
        # which reads a test's source to seed it, finds Python there rather than prose.
        above = GUIDE[: GUIDE.index(block)].count("\n")
        exec(compile("\n" * above + block, str(DOCS / "testing-your-program.md"), "exec"), namespace)
    return {name: value for name, value in namespace.items() if name.startswith("test_")}


def test_the_guide_shows_both_worked_examples() -> None:
    assert len(PROPERTY_BLOCKS) == 2


@pytest.mark.parametrize(
    "name",
    [
        "test_no_basket_earns_more_than_a_tenth_of_its_value_back",
        "test_returning_everything_leaves_the_balance_where_it_was",
    ],
)
def test_the_guides_property_holds_for_the_grocer(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    guide_tests(monkeypatch)[name]()
