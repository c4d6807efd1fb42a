"""``python -m loyalty``: the ``loyalty`` command, for where its script is not on the PATH."""

from loyalty.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
