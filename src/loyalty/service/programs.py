"""The program versions an engine runs: its own, and those other engines stored.

An engine is built with its versions; the store keeps every version any
engine ran, so a purchase earned under an older one can still be explained,
replayed and returned. Queries only read the stored versions (a replica can
serve them); a command stores this engine's versions inside its own unit of
work, so a refused command stores nothing.

A long-running engine reads the store's versions again when what it read is
:data:`REFRESH_SECONDS` old (the next purchase, or other command that asks for
the versions in force, reads them, once), and at once when a return names a
version it does not know: a version another engine stores later is in force
here within that time.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from loyalty.errors import ConfigError
from loyalty.program import Program, check_versions
from loyalty.service.running import Runner
from loyalty.store import StoredProgram, UnitOfWork
from loyalty.tiers import Metric
from loyalty.versions import by_label, in_force, lot_dates, same_body

__all__ = ["REFRESH_SECONDS", "Programs"]

#: How long the versions read from the store are taken as all there are (seconds, monotonic).
REFRESH_SECONDS = 60.0


class Programs:
    """Every program version an engine knows, synchronised with the store once."""

    def __init__(self, versions: tuple[Program, ...], runner: Runner) -> None:
        self._versions = versions
        self._runner = runner
        #: The engine's own time guards (its latest version's): versions learnt from the store,
        #: which other engines stored, do not change how this engine checks its tills' times.
        self.guards = versions[-1].time_guards
        # Whether any version has tiers (a purchase under none need not ask which is in force now).
        self._tiered = any(version.tiers is not None for version in versions)
        self._by_balance = any(_by_balance(version) for version in versions)
        #: Whether the store has been read and holds this engine's versions, and when (monotonic).
        self._synced = False
        self._synced_at = 0.0
        #: Whether the running command stored this engine's versions (synced once it commits).
        self._storing = False
        self._body_cache: tuple[tuple[Program, ...], tuple[dict[str, Any], ...]] | None = None

    @property
    def latest(self) -> Program:
        """The latest version (the one in force now, unless a later one is scheduled)."""
        return self._versions[-1]

    def known(self) -> tuple[Program, ...]:
        """The versions as last read, without reading the store (for dates of versions already seen)."""
        return self._versions

    def all(self, *, write: bool = False) -> tuple[Program, ...]:
        """Every version: this engine's and the ones other engines stored. ``write`` stores them at once."""
        if self._synced:
            # Checked here alone, where every purchase begins: one clock reading a command.
            if time.monotonic() - self._synced_at < REFRESH_SECONDS:
                return self._versions
            # This engine's versions are stored (it synced): the store's are read again, once.
            self._learn(self._runner.read(lambda uow: self._merge(uow, write=False)))
            self._synced_at = time.monotonic()
            return self._versions
        if not write:
            return self._runner.read(lambda uow: self._merge(uow, write=False))

        def command(uow: UnitOfWork) -> tuple[Program, ...]:
            versions = self._merge(uow, write=True)
            uow.commit()
            return versions

        self._learn(self._runner.run(command, "storing the program versions"))
        self._synced, self._synced_at = True, time.monotonic()
        return self._versions

    def at(self, at: datetime) -> Program:
        """The version in force at ``at`` (before the first: refused)."""
        return in_force(self.all(), at)

    @property
    def may_tier(self) -> bool:
        """Whether a version may have tiers: ``False`` once the store's versions are known and
        none has."""
        return self._tiered or not self._synced

    @property
    def may_follow_balance(self) -> bool:
        """Whether a version may have tiers by balance (which every write that changes a
        balance must follow): ``False`` once the store's versions are known and none has."""
        return self._by_balance or not self._synced

    def in_uow(self, uow: UnitOfWork) -> tuple[Program, ...]:
        """Every version, read in the command's own unit of work (a second one could wait on
        a connection the first holds)."""
        return self._versions if self._synced else self._merge(uow, write=False)

    def read_in(self, uow: UnitOfWork) -> tuple[Program, ...]:
        """Every version, the store's read in ``uow`` even once synced: what a report names
        (another engine may have stored a version since). Nothing is written, and a version
        this engine has is taken as it has it (a command is where a changed one is refused)."""
        known = {version.version for version in self._versions}
        stored = uow.program_versions()
        others = [Program.from_dict(v.body) for v in stored if v.version not in known]
        return check_versions([*others, *self._versions]) if others else self._versions

    def labelled(self, uow: UnitOfWork, label: str, at: datetime) -> Program:
        """The version a purchase was earned with: by its label, else the one in force at ``at``.
        A label this engine does not know is looked for in the store first: another engine
        stored that version since this one read them (the one in force instead would recompute
        the purchase under other terms)."""
        versions = self.in_uow(uow)
        if not any(version.version == label for version in versions):
            stored = self.read_in(uow)
            if any(version.version == label for version in stored):
                self._learn(stored)
                versions = stored
        return by_label(versions, label, at)

    def dates(
        self, program: Program, at: datetime, *, pending: bool, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        """When points earned at ``at`` under ``program`` vest and expire (see
        :func:`~loyalty.versions.lot_dates`)."""
        return lot_dates(self._versions, program, at, pending=pending, now=now)

    def begin(self) -> None:
        """A command starts: it has stored nothing yet."""
        self._storing = False

    def store_in(self, uow: UnitOfWork) -> None:
        """Store this engine's versions with the command's own writes (once per engine)."""
        if not self._synced:
            self._learn(self._merge(uow, write=True))
            self._storing = True

    def committed(self) -> None:
        """The command that stored the versions committed: the store has them from now on."""
        if self._storing:
            self._synced, self._synced_at = True, time.monotonic()

    def _bodies(self) -> tuple[dict[str, Any], ...]:
        """The dict form of this engine's versions, worked out once (it costs more than the read)."""
        if self._body_cache is None or self._body_cache[0] is not self._versions:
            self._body_cache = (self._versions, tuple(program.to_dict() for program in self._versions))
        return self._body_cache[1]

    def _learn(self, versions: tuple[Program, ...]) -> None:
        self._versions = versions
        self._tiered = any(version.tiers is not None for version in versions)
        self._by_balance = any(_by_balance(version) for version in versions)

    def _merge(self, uow: UnitOfWork, *, write: bool) -> tuple[Program, ...]:
        stored = {version.version: version for version in uow.program_versions()}
        for program, body in zip(self._versions, self._bodies(), strict=True):
            previous = stored.get(program.version)
            if previous is None:
                if write:
                    uow.add_program_version(
                        StoredProgram(program.version, program.effective_from, body, self._runner.now())
                    )
            elif not same_body(previous.body, body):
                raise ConfigError(
                    [
                        (
                            "version",
                            f"version {program.version!r} is already stored with other rules: "
                            "give the changed program a new version",
                        )
                    ]
                )
        known = {version.version for version in self._versions}
        others = [Program.from_dict(v.body) for k, v in stored.items() if k not in known]
        return check_versions([*others, *self._versions]) if others else self._versions


def _by_balance(program: Program) -> bool:
    return program.tiers is not None and program.tiers.metric is Metric.BALANCE
