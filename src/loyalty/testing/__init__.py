"""What loyalty-engine ships for testing: the storage contract suite, a ledger state machine,
Hypothesis strategies and a clock a test can move (:mod:`loyalty.testing.clock`).

These modules import pytest and Hypothesis, which the engine itself never
needs: install them with ``pip install 'loyalty-engine[testing]'``. Without
them, importing any of these modules raises :class:`ModuleNotFoundError`
naming what is missing and that command.
"""

from __future__ import annotations

import importlib.util
import sys

# What the `testing` extra in pyproject.toml installs (tests/docs/test_package_metadata.py keeps them equal).
TEST_DEPENDENCIES = ("pytest", "hypothesis")
INSTALL_HINT = "pip install 'loyalty-engine[testing]'"


def _installed(name: str) -> bool:
    # Looked up, not imported: `import loyalty.testing.clock` need not pay for loading Hypothesis.
    if name in sys.modules:
        return sys.modules[name] is not None  # None there means "import refused", as for a blocked name
    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:  # a finder that refuses the name outright
        return False


_missing = [name for name in TEST_DEPENDENCIES if not _installed(name)]
if _missing:
    raise ModuleNotFoundError(
        f"loyalty.testing needs {' and '.join(_missing)}, which "
        f"{'is' if len(_missing) == 1 else 'are'} not installed: {INSTALL_HINT}",
        name=_missing[0],
    )
