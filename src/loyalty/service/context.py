"""What every use case runs with: the runner of units of work and the program versions."""

from __future__ import annotations

from datetime import datetime

import attrs

from loyalty.service.programs import Programs
from loyalty.service.running import Runner

__all__ = ["Context"]


@attrs.frozen
class Context:
    """The engine's runner (store, clock, retries) and its program versions, shared by the use cases."""

    runner: Runner
    programs: Programs

    def now(self) -> datetime:
        """The engine's time."""
        return self.runner.now()
