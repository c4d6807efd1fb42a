"""``loyalty.checks.check_aware`` of a till time at a zone and at a fixed offset, for counting
instructions with callgrind (the UTC fast path is not this one). ``math.factorial(0)`` is called
between the segments: run under valgrind with ``--dump-before=math_factorial``, each segment's
count lands in a file of its own (docs/performance.md, "A till time's offset in whole seconds"):

    PYTHONHASHSEED=0 valgrind --tool=callgrind --dump-before=math_factorial \\
        --callgrind-out-file=cga.out python benchmarks/cg_aware.py

``cga.out.2`` counts the zone's calls, ``cga.out.4`` the fixed offset's (:data:`CALLS` each).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from loyalty.checks import check_aware

CALLS = 20_000
WARM = 200


def main() -> None:
    zoned = datetime(2024, 3, 2, 12, tzinfo=ZoneInfo("Europe/Amsterdam"))
    fixed = datetime(2024, 3, 2, 12, tzinfo=timezone(timedelta(hours=2)))
    for value in (zoned, fixed):
        for _ in range(WARM):
            check_aware("at", value)
        math.factorial(0)
        for _ in range(CALLS):
            check_aware("at", value)
        math.factorial(0)


if __name__ == "__main__":
    main()
