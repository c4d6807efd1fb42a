"""The checks every adapter runs before it writes an entry's draws or redates: what fits the member's
lots passes, and each refusal names its field and says which lot and how many points."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import attrs
import pytest

from loyalty.errors import StorageError
from loyalty.ledger import EntryKind, Posting
from loyalty.lots import Lot, check_draws, check_redates

T = datetime(2024, 3, 1, tzinfo=UTC)
#: Lot 1: 10 points, 5 left. Lot 2: 1 point, all left. Lot 3: a debt of 5 a return left.
#: Lot 4: another member's. Lot 5: 10 points, all spent.
LOTS = {
    1: Lot(1, "M1", 10, 5, T),
    2: Lot(2, "M1", 1, 1, T),
    3: Lot(3, "M1", -5, -5, T),
    4: Lot(4, "M2", 10, 10, T),
    5: Lot(5, "M1", 10, 0, T),
}


def posting(kind: EntryKind, points: int, *draws: tuple[int, int]) -> Posting:
    return Posting("M1", kind, points, T, T, "s1", "test", draws=draws)


def refusal(check: object, entry: Posting) -> str:
    """The message of the StorageError the check raises, after asserting the field it names."""
    assert callable(check)
    with pytest.raises(StorageError) as info:
        check(entry, LOTS)
    assert info.value.field == ("redates" if check is check_redates else "draws")
    return str(info.value)


@pytest.mark.parametrize(
    "entry",
    [
        posting(EntryKind.REDEEM, -5, (1, -5)),  # a lot's last points
        posting(EntryKind.REDEEM, -6, (1, -5), (2, -1)),  # a lot of exactly one point
        posting(EntryKind.EARN, 7),  # a plain credit opens a lot of all its points
        posting(EntryKind.TIER, 0),  # an entry of no points draws on nothing
        posting(EntryKind.RELEASE, 5, (1, 5)),  # held points back to where they came from
        posting(EntryKind.EARN, 8, (3, 5)),  # a debt repaid to zero, 3 points open a lot
        posting(EntryKind.RETURN, -12, (1, -5), (2, -1)),  # a return may open a debt of the rest
        # So may an offline redemption accepted past the balance under a ``negative`` clawback.
        posting(EntryKind.REDEEM, -12, (1, -5), (2, -1)),
    ],
)
def test_draws_that_fit_the_lots_pass(entry: Posting) -> None:
    check_draws(entry, LOTS)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (posting(EntryKind.ADJUST, 0, (1, -1)), "draws: an entry of no points draws on no lots"),
        # A debit whose draws fall short of its points; only a return or a redemption may leave a debt.
        (
            posting(EntryKind.ADJUST, -10, (1, -4)),
            "draws: the draws add up to -4, which -10 points cannot leave",
        ),
        (posting(EntryKind.TRANSFER, -3), "draws: the draws add up to 0, which -3 points cannot leave"),
        (posting(EntryKind.HOLD, -3), "draws: the draws add up to 0, which -3 points cannot leave"),
        # A credit whose draws give back more than the credit brings.
        (posting(EntryKind.RELEASE, 3, (1, 5)), "draws: the draws add up to 5, which 3 points cannot leave"),
        (posting(EntryKind.REDEEM, -5, (1, -2), (1, -3)), "draws: an entry draws on each lot at most once"),
        (
            posting(EntryKind.REDEEM, -4, (1, -5), (2, 1)),
            "draws: a draw on lot 2 must have the entry's sign, got 1",
        ),
        (
            posting(EntryKind.RELEASE, 2, (1, 3), (2, -1)),
            "draws: a draw on lot 2 must have the entry's sign, got -1",
        ),
        (
            posting(EntryKind.REDEEM, -5, (1, -5), (2, 0)),
            "draws: a draw on lot 2 must have the entry's sign, got 0",
        ),
        (posting(EntryKind.REDEEM, -5, (9, -5)), "draws: 'M1' has no lot 9"),
        (posting(EntryKind.REDEEM, -5, (4, -5)), "draws: 'M1' has no lot 4"),
        (posting(EntryKind.REDEEM, -6, (1, -6)), "draws: lot 1 of 'M1' cannot give 6 points"),
        (posting(EntryKind.REDEEM, -1, (3, -1)), "draws: lot 3 of 'M1' cannot give 1 points"),
        (posting(EntryKind.REDEEM, -1, (5, -1)), "draws: lot 5 of 'M1' cannot give 1 points"),
        # Given back beyond what the lot was earned with (5 left of 10: 6 is one too many).
        (posting(EntryKind.RELEASE, 6, (1, 6)), "draws: lot 1 of 'M1' cannot take 6 back"),
        # A debt repaid beyond zero.
        (posting(EntryKind.EARN, 8, (3, 6)), "draws: lot 3 of 'M1' cannot take 6 back"),
    ],
)
def test_draws_that_do_not_fit_are_refused_naming_the_lot_and_points(entry: Posting, message: str) -> None:
    assert refusal(check_draws, entry) == message


def redate(*redates: tuple[int, datetime | None], kind: EntryKind = EntryKind.REDATE) -> Posting:
    return Posting("M1", kind, 0, T, T, "s1", "activity", redates=redates)


@pytest.mark.parametrize(
    "entry",
    [
        redate((1, T + timedelta(days=30)), (2, None)),  # a lot of one point; "never expires"
        redate((5, T + timedelta(days=30))),  # spent to the last point: a hold may give points back
    ],
)
def test_a_redate_of_the_members_lots_of_points_passes(entry: Posting) -> None:
    check_redates(entry, LOTS)


LATER = T + timedelta(days=30)
ONLY_REDATES = "redates: only a redate entry, of no points and no draws, moves lot dates"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (redate((1, LATER), kind=EntryKind.ADJUST), ONLY_REDATES),
        (attrs.evolve(redate((1, LATER)), points=5), ONLY_REDATES),
        (attrs.evolve(redate((1, LATER)), draws=((1, -1),)), ONLY_REDATES),
        (redate((1, LATER), (1, None)), "redates: an entry moves each lot at most once"),
        (redate((9, LATER)), "redates: 'M1' has no lot of points 9"),
        (redate((4, LATER)), "redates: 'M1' has no lot of points 4"),
        (redate((3, LATER)), "redates: 'M1' has no lot of points 3"),
        (redate((1, datetime(2024, 4, 1))), "redates: lot 1: a new date must be timezone-aware"),
    ],
)
def test_a_redate_is_refused_naming_the_lot(entry: Posting, message: str) -> None:
    assert refusal(check_redates, entry) == message
