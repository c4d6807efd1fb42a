"""Each PostgreSQL test on one of the Pythons of a CI run: ``.ci/run`` runs the suite on every
version side by side and gives each a share, ``LOYALTY_TEST_POSTGRES_SHARE="i/n"``; a version
keeps the PostgreSQL tests of its share and every other test. The server's work, most of those
tests' time, is the same whichever Python asks, and running it three times kept the run over
fifteen minutes on a two-core machine; every PostgreSQL test still runs in every CI run, each on
one version, chosen by its node id (the same on every version)."""

from __future__ import annotations

import zlib
from collections.abc import Iterable

__all__ = ["ENV", "in_share", "parse_share", "shares_of"]

ENV = "LOYALTY_TEST_POSTGRES_SHARE"


def parse_share(text: str) -> tuple[int, int]:
    """``"i/n"`` as ``(i, n)``, ``0 <= i < n``; else ``ValueError`` naming the variable."""
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise ValueError(f"{ENV} must be i/n, got {text!r}") from None
    if not 0 <= index < count:
        raise ValueError(f"{ENV} must be i/n with 0 <= i < n, got {text!r}")
    return index, count


def in_share(node_id: str, share: tuple[int, int]) -> bool:
    """Whether the test ``node_id`` is in ``share`` (a stable hash: Python's own is salted)."""
    index, count = share
    return zlib.crc32(node_id.encode("utf-8")) % count == index


def shares_of(node_ids: Iterable[str], count: int) -> list[list[str]]:
    """``node_ids`` split into ``count`` shares, in order (what the CI run's versions get)."""
    split: list[list[str]] = [[] for _ in range(count)]
    for node_id in node_ids:
        split[next(i for i in range(count) if in_share(node_id, (i, count)))].append(node_id)
    return split
