"""CLI manners: Ctrl-C in `demo` and `probes make` ends with one line and exit code 130, and help
shows no `<bool>` / `<list[str]>` type labels."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


# Python leaves SIGINT ignored when its parent ignores it (a background job): take it back, as an
# interactive shell's child has it, then run the CLI.
CTRL_C_ABLE = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'vrb-agent'; runpy.run_module('vrb_agent.cli', run_name='__main__')"
)


def _start(args: list[str]) -> subprocess.Popen[str]:
    """The CLI in a child that takes SIGINT the way a terminal's Ctrl-C delivers it."""
    return subprocess.Popen(
        [sys.executable, "-c", CTRL_C_ABLE, *args],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _interrupt_when(child: subprocess.Popen[str], ready, timeout: float = 120) -> tuple[str, str]:
    deadline = time.monotonic() + timeout
    while not ready() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert child.poll() is None, "the command finished before it could be interrupted"
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    return out, err


def test_ctrl_c_in_probes_make_says_so_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "suite"
    child = _start(["probes", "make", "--out", str(out), "--n", "60", "--width", "320", "--height", "180"])
    _, err = _interrupt_when(child, lambda: any((out / "videos").glob("*.mp4")))
    assert child.returncode == 130
    assert err.strip().splitlines() == [
        f"error: interrupted; {out}/probes.jsonl was not written (it is written last); run the command again"
    ]
    assert not (out / "probes.jsonl").exists()


def test_ctrl_c_in_demo_says_so_and_exits_130(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    child = _start(["demo", "--out", str(out), "--n", "3"])
    _, err = _interrupt_when(child, (out / "run" / "run.json").is_file)  # judging has begun
    assert child.returncode == 130
    lines = err.strip().splitlines()
    assert (
        lines[-1] == f"error: interrupted; finished judgments are kept in {out}: `vrb-agent demo --out {out}` resumes"
    )
    assert "Traceback" not in err


@pytest.mark.parametrize("command", [[], ["judge"], ["bench"], ["report"], ["demo"], ["probes"], ["probes", "make"]])
def test_help_shows_no_bool_or_list_type_labels(command: list[str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "vrb_agent.cli", *command, "--help"],
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--help" in done.stdout
    assert "<bool>" not in done.stdout and "<list[" not in done.stdout, done.stdout
    if command == ["bench"]:
        assert "--backend-option KEY=VALUE" in done.stdout and "--force-new / --no-force-new " in done.stdout
    if command == ["report"]:
        assert "report [OPTIONS] {RUN_DIR}..." in done.stdout and "one or more RUN_DIRs" in done.stdout
