"""Log lines during a bench with a progress bar: provider retry warnings (one per retry, several per
failing cell) are counted into the bar's stats instead of scrolling it away; other warnings print
above the bar through its console."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

RETRY_LOGGER = "vrb_agent.judges.retry"


class BarLogRoute(logging.Handler):
    """Installed on the `vrb_agent` logger while a bar is shown (`with BarLogRoute(console):`)."""

    def __init__(self, console: Any, on_retry: Callable[[], None] = lambda: None) -> None:
        super().__init__(logging.WARNING)
        self.console = console
        self.on_retry = on_retry
        self.retries = 0
        self._logger = logging.getLogger("vrb_agent")
        self._propagate = self._logger.propagate

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == RETRY_LOGGER:
            self.retries += 1
            self.on_retry()
            return
        self.console.print(self.format(record), markup=False, highlight=False)

    def __enter__(self) -> BarLogRoute:
        self._logger.addHandler(self)
        self._logger.propagate = False
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.propagate = self._propagate
