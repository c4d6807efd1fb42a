"""``python -m loyalty.cli``: the ``loyalty`` command, as ``python -m loyalty`` is."""

from loyalty.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
