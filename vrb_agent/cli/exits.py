"""The one mapping from what a command raised to its message and exit code (README's table)."""

from __future__ import annotations

from vrb_agent.errors import InputError, VrbError

EXIT_FAILURE, EXIT_USAGE, EXIT_CONFIG, EXIT_MEDIA, EXIT_NO_VERDICT, EXIT_INTERRUPTED = 1, 2, 3, 4, 5, 130
EXIT_RUN_LOCKED, EXIT_DISK_FULL, EXIT_BUDGET = 6, 7, 8  # bench only


class Interrupted(VrbError):
    """Ctrl-C during a command, with what was kept and how to resume: exit 130."""


def failure_exit(exc: BaseException) -> tuple[str, int]:
    """The one mapping, for every command, from an exception that reached the top to its message
    and exit code. Anything not ours is a bug: one line and a --debug hint."""
    for kind, code in _codes():
        if isinstance(exc, kind):
            return str(exc), code
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted", EXIT_INTERRUPTED
    if isinstance(exc, MemoryError):
        return "out of memory; use smaller inputs or fewer --concurrency", EXIT_FAILURE
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}", EXIT_FAILURE
    return f"internal error: {type(exc).__name__}: {exc} (re-run with --debug for the traceback)", EXIT_FAILURE


def _codes() -> list[tuple[tuple[type[BaseException], ...], int]]:
    """Error classes -> exit code, most specific first (imported here: the CLI starts fast and
    `--help` loads no benchmark code)."""
    from vrb_agent.benchmark.datasets import DatasetError  # noqa: PLC0415
    from vrb_agent.benchmark.diskspace import DiskFullError  # noqa: PLC0415
    from vrb_agent.benchmark.manifest import OutDirError  # noqa: PLC0415
    from vrb_agent.benchmark.merge import ShardError  # noqa: PLC0415
    from vrb_agent.benchmark.probes import ProbeError  # noqa: PLC0415
    from vrb_agent.benchmark.runlock import RunLockedError  # noqa: PLC0415
    from vrb_agent.benchmark.spend import BudgetReachedError  # noqa: PLC0415
    from vrb_agent.judges.base import AuthError, ConfigError  # noqa: PLC0415
    from vrb_agent.tools.media import MediaError  # noqa: PLC0415

    return [
        ((BudgetReachedError,), EXIT_BUDGET),  # a ConfigError (so it stops the run), but its own code
        ((ConfigError, AuthError), EXIT_CONFIG),
        ((MediaError,), EXIT_MEDIA),
        ((InputError, DatasetError, ProbeError, OutDirError, ShardError), EXIT_USAGE),
        ((RunLockedError,), EXIT_RUN_LOCKED),
        ((DiskFullError,), EXIT_DISK_FULL),
        ((Interrupted,), EXIT_INTERRUPTED),
        ((VrbError,), EXIT_FAILURE),
    ]


def one_line(message: str) -> str:
    """`message` as one printable line: a newline or a lone surrogate in a user's file name or in
    an exception's text is shown escaped (`\\n`, `\\ud800`), never breaking the line."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in message)
