"""What the README and the guides show of `loyalty demo` is what it prints, at its default size.

Each ```text block that starts with ``$ loyalty demo`` is real output, in parts separated by
``...`` lines (what the excerpt leaves out); every part must appear, in order. The run is the
README's first command on a fresh machine: no `report` extra, so the HTML report is the hint.
This is the suite's one run of the demo at its default size (about 10 s of CPU).
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from pathlib import Path

import pytest

from loyalty import report_html
from loyalty.cli import main
from loyalty.errors import MissingExtra
from tests.paths import ROOT

PAGES = ("README.md", "docs/getting-started.md", "docs/cli.md")
_EXCERPT = re.compile(r"```text\n\$ loyalty demo\n(.*?)```", re.S)
_FOLDER = re.compile(r"loyalty-demo-[A-Za-z0-9_]+")


@pytest.fixture(scope="module")
def printed() -> str:
    def missing() -> None:
        raise MissingExtra("report", "not installed")

    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as out:
        patch.setattr(report_html, "require", missing)
        assert main(["demo"]) == 0
    text = out.getvalue()
    (store,) = re.findall(r"^  store +(.+)$", text, re.M)
    shutil.rmtree(Path(store).parent)
    # The pages show the usual temporary directory; a run with TMPDIR set (as .ci/run sets it)
    # prints its own.
    return _FOLDER.sub("loyalty-demo-X", text.replace(tempfile.gettempdir(), "/tmp"))


@pytest.mark.parametrize("page", PAGES)
def test_the_pages_quote_the_demo_as_it_prints(page: str, printed: str) -> None:
    excerpts = _EXCERPT.findall((ROOT / page).read_text(encoding="utf-8"))
    assert excerpts, f"{page} shows no output of `loyalty demo`"
    for excerpt in excerpts:
        at = 0
        for part in re.split(r"^\.\.\.\n", _FOLDER.sub("loyalty-demo-X", excerpt), flags=re.M):
            if part:
                found = printed.find(part, at)
                assert found >= 0, f"{page}: not printed (or not in this order):\n{part}"
                at = found + len(part)
