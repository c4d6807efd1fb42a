"""The package's public names: each one in ``__all__`` resolves to the object its home module
defines, and ``import loyalty`` alone loads none of them (PEP 562: they load when first used)."""

from __future__ import annotations

import importlib
import subprocess
import sys

import loyalty


def test_every_public_name_is_its_home_modules_object() -> None:
    homes = loyalty._HOMES
    assert set(loyalty.__all__) - {"__version__"} <= set(homes)
    for name in loyalty.__all__:
        if name == "__version__":
            continue
        assert getattr(loyalty, name) is getattr(importlib.import_module(homes[name]), name), name


def test_the_chain_report_is_public() -> None:
    # What Engine.verify returns is named at the top, as its other results are.
    assert loyalty.ChainReport.__module__ == "loyalty.chains"
    assert {"ChainReport", "Break", "Head"} <= set(loyalty.__all__)


def test_importing_the_package_loads_no_engine_rule_or_store() -> None:
    probe = "import sys, loyalty; print(sorted(m for m in sys.modules if m.startswith('loyalty.')))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "loyalty.engine" not in loaded.stdout
    assert "loyalty.rules" not in loaded.stdout
    assert "loyalty.store" not in loaded.stdout
