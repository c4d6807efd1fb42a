"""The PostgreSQL adapter's referrals and referral codes (:class:`loyalty.store.ReferralsRole`), a
mixin of its unit of work."""

from __future__ import annotations

from loyalty.errors import StorageError
from loyalty.referrals import Referral
from loyalty.store.postgres.driver import pg_text
from loyalty.store.postgres.transaction import Transaction
from loyalty.store.rows import offset_of, referral_from_row

__all__ = ["PostgresReferrals"]


class PostgresReferrals:
    """What :class:`~loyalty.store.postgres.unit_of_work.PostgresUnitOfWork` does with referrals."""

    def referral_code(self: Transaction, member_id: str) -> str | None:
        row = self._execute(self._q.referral_code, (member_id,)).fetchone()
        return None if row is None else str(row[0])

    def code_owner(self: Transaction, code: str) -> str | None:
        row = self._execute(self._q.code_owner, (code,)).fetchone()
        return None if row is None else str(row[0])

    def add_referral_code(self: Transaction, member_id: str, code: str) -> None:
        self._writable()
        if self.member(member_id) is None:
            raise StorageError("member_id", f"no member {member_id!r}")
        # A code taken meanwhile by another writer is a unique violation the engine retries.
        self._execute(self._q.add_referral_code, (pg_text("code", code), pg_text("member_id", member_id)))

    def referral(self: Transaction, referee: str) -> Referral | None:
        row = self._execute(self._q.referral, (referee,)).fetchone()
        return None if row is None else referral_from_row(row)

    def referrals_by(self: Transaction, referrer: str) -> list[Referral]:
        return [referral_from_row(row) for row in self._execute(self._q.referrals_by, (referrer,)).fetchall()]

    def put_referral(self: Transaction, referral: Referral) -> None:
        self._writable()
        for member_id in (referral.referee, referral.referrer):
            if self.member(member_id) is None:
                raise StorageError("member_id", f"no member {member_id!r}")
        self._execute(
            self._q.put_referral,
            (
                pg_text("referee", referral.referee),
                pg_text("referrer", referral.referrer),
                pg_text("code", referral.code),
                referral.referred_at,
                offset_of(referral.referred_at),
                referral.state.value,
                None if referral.reason is None else pg_text("reason", referral.reason),
                None if referral.purchase_id is None else pg_text("purchase_id", referral.purchase_id),
                referral.referrer_points,
                referral.referee_points,
                referral.referrer_lot,
                referral.referee_lot,
                referral.vests_at,
                referral.decided_at,
            ),
        )
