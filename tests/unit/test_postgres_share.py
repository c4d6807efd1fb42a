"""The shares of the PostgreSQL tests among a CI run's Pythons (tests/postgres_share.py): every
test in exactly one share, the same on every run, and a bad setting refused by name."""

from __future__ import annotations

import pytest

from tests.postgres_share import ENV, in_share, parse_share, shares_of

IDS = [f"tests/store/test_postgres_contract.py::TestPostgresStore::test_{n}[postgres]" for n in range(300)]


@pytest.mark.parametrize("count", [1, 2, 3])
def test_every_test_is_in_exactly_one_share(count: int) -> None:
    split = shares_of(IDS, count)
    assert sorted(node_id for share in split for node_id in share) == sorted(IDS)
    for node_id in IDS:
        assert sum(in_share(node_id, (index, count)) for index in range(count)) == 1
    assert all(len(share) > 300 // count // 2 for share in split)  # spread, not all in one


def test_a_share_is_the_same_on_every_run() -> None:
    assert shares_of(IDS, 3) == shares_of(list(IDS), 3)
    assert in_share(IDS[0], (0, 1))


@pytest.mark.parametrize("text", ["", "1", "a/b", "3/3", "-1/3", "1/0"])
def test_a_bad_share_is_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ValueError, match=ENV):
        parse_share(text)
