"""The bench progress bar: done/total, running accuracy per mode (a judgment without a verdict
scored by the run's invalid policy, as its report will), errors, tokens and provider retries on a
terminal; nothing at all when stderr is not a terminal."""

from __future__ import annotations

from typing import Any, ClassVar

from vrb_agent.benchmark.escalation import paid_usages
from vrb_agent.benchmark.logroute import BarLogRoute
from vrb_agent.benchmark.metrics import score
from vrb_agent.benchmark.records import ResultRecord, usage_tokens


class Progress:
    """A rich progress bar fed one ResultRecord per finished cell (see the module docstring)."""

    SCORED: ClassVar[set[str]] = {"sample_id", "mode", "frames", "k", "control", "status", "correct"}

    def __init__(
        self, total: int, done: int, enabled: bool | None = None, *, policy: str = "wrong", seed: int = 0
    ) -> None:
        from rich.console import Console  # noqa: PLC0415 - rich only matters for interactive runs

        console = Console(stderr=True)
        self.enabled = console.is_terminal if enabled is None else enabled
        self.policy, self.seed = policy, seed
        self.right: dict[str, float] = {}
        self.judged: dict[str, int] = {}
        self.errors = 0
        self.tokens = 0
        self._bar: Any = None
        self._log: BarLogRoute | None = None
        if self.enabled:
            self._log = BarLogRoute(console, on_retry=self._refresh)
            self._bar = _rich_bar(console)
            self._task = self._bar.add_task("bench", total=total, completed=done, stats="")

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        if self._log is not None:
            self._log.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._log is not None:
            self._log.__exit__()
        if self._bar is not None:
            self._bar.stop()

    @property
    def retries(self) -> int:
        return self._log.retries if self._log is not None else 0

    def add(self, record: ResultRecord) -> None:
        mode = f"{record.mode} ({record.control})" if record.control else record.mode
        value = score(record.model_dump(include=self.SCORED), self.policy, self.seed)
        if value is not None:  # `drop` leaves a judgment without a verdict out, as the report does
            self.judged[mode] = self.judged.get(mode, 0) + 1
            self.right[mode] = self.right.get(mode, 0.0) + value
        self.errors += record.status == "error"
        paid = paid_usages(record.usage, record.cascade)  # a cascade's reused stages counted once
        self.tokens += sum(usage_tokens(u) for u in paid)
        if self._bar is not None:
            self._bar.update(self._task, advance=1)
        self._refresh()

    def _refresh(self) -> None:
        if self._bar is not None:
            self._bar.update(self._task, stats=self.line())

    def line(self) -> str:
        accs = " ".join(f"{m} {100 * self.right[m] / n:.1f}%" for m, n in sorted(self.judged.items()) if n)
        retries = f" | retries {self.retries}" if self.retries else ""
        return f"{accs} | errors {self.errors} | tokens {self.tokens:,}{retries}"


def _rich_bar(console: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn  # noqa: PLC0415
    from rich.progress import Progress as RichProgress  # noqa: PLC0415

    return RichProgress(
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        transient=False,
    )
