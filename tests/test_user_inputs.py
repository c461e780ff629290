"""What a user feeds the CLI, as a hostile user would (issue 16): text arguments in other encodings
or unbounded (`@/dev/zero`), `--sample` files, JSONL lines that are not UTF-8, and the one central
mapping of exceptions to exit codes with its last-resort line and `--debug`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.graph_support import text
from vrb_agent.benchmark.datasets import DatasetError, load_dataset
from vrb_agent.benchmark.diskspace import DiskFullError
from vrb_agent.benchmark.failstop import BackendUnreachableError
from vrb_agent.benchmark.manifest import OutDirError
from vrb_agent.benchmark.runlock import RunLockedError
from vrb_agent.cli import app, exits, inputs
from vrb_agent.cli.exits import failure_exit
from vrb_agent.errors import VrbError
from vrb_agent.judges.base import AuthError, ConfigError
from vrb_agent.tools.media import MediaError

ROOT = Path(__file__).resolve().parents[1]
VERDICT = text("Overall Judgment: Answer A is better.")


def judge_args(
    media: Path, question: str = "Q?", response_a: str = "A.", response_b: str = "B.", script: Path | None = None
) -> list[str]:
    args = ["judge", str(media), "-q", question, "--response-a", response_a, "--response-b", response_b]
    return [*args, "--mode", "single", "--frames", "2", "-b", "scripted", "-O", f"script={script or 'none.json'}"]


def one_error_line(stderr: str) -> str:
    """The single `error:` line a failing command prints (asserting it is the only output)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]


@pytest.fixture
def script(tmp_path: Path) -> Path:
    path = tmp_path / "script.json"
    path.write_text(json.dumps([VERDICT.model_dump(mode="json")] * 4), encoding="utf-8")
    return path


# ---- 16.2: text arguments and --sample files --------------------------------------------------


def test_latin1_text_file_is_a_usage_error_naming_the_file(tmp_path: Path, square_image: Path) -> None:
    latin = tmp_path / "answer.txt"
    latin.write_bytes("Un carré rouge.".encode("latin-1"))
    done = CliRunner().invoke(app, judge_args(square_image, "Q?", f"@{latin}"))
    assert done.exit_code == 2
    line = one_error_line(done.stderr)
    assert f"--response-a @{latin}" in line and "not UTF-8" in line and "byte 0xe9" in line and "iconv" in line


def test_latin1_sample_file_is_a_usage_error(tmp_path: Path, square_image: Path) -> None:
    sample = tmp_path / "pair.json"
    sample.write_bytes(b'{"question": "Qu\xe9?", "response_a": "a", "response_b": "b"}')  # Latin-1
    done = CliRunner().invoke(app, ["judge", str(square_image), "--sample", str(sample), "-b", "scripted"])
    assert done.exit_code == 2
    line = one_error_line(done.stderr)
    assert f"--sample {sample}" in line and "not UTF-8" in line


def test_dev_zero_stops_at_the_size_cap(square_image: Path) -> None:
    started = time.monotonic()
    done = CliRunner().invoke(app, judge_args(square_image, "Q?", "@/dev/zero"))
    assert done.exit_code == 2 and time.monotonic() - started < 10
    line = one_error_line(done.stderr)
    assert f"over {inputs.TEXT_FILE_LIMIT_MB} MB" in line and "/dev/zero" in line


def test_dev_zero_under_a_memory_limit_exits_2_in_a_subprocess(square_image: Path) -> None:
    """Under a 2 GB address-space limit: the reader takes the cap, never the whole stream."""
    limit = "import resource; resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30)); "
    code = limit + "import sys; from vrb_agent.cli import main; sys.argv[0] = 'vrb-agent'; main()"
    args = judge_args(square_image, "@/dev/zero")
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "--question @/dev/zero" in one_error_line(done.stderr)


def test_utf8_with_bom_and_at_escape_are_read(tmp_path: Path, square_image: Path, script: Path) -> None:
    bom = tmp_path / "q.txt"
    bom.write_bytes("\ufeffWhat is red?".encode())
    assert inputs.read_text_arg(f"@{bom}", "--question") == "What is red?"
    assert inputs.read_text_arg("@@home", "--question") == "@home"
    done = CliRunner().invoke(app, [*judge_args(square_image, f"@{bom}", script=script), "--json"])
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "ok"


def test_undecodable_argv_text_is_a_usage_error(square_image: Path) -> None:
    done = CliRunner().invoke(app, judge_args(square_image, "Q?", "caf\udce9"))  # what Python makes of b"caf\xe9"
    assert done.exit_code == 2
    assert "--response-a: not valid Unicode text" in one_error_line(done.stderr)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"question": ["a list"], "response_a": "a", "response_b": "b"}', "question must be a string, got list"),
        ('{"question": "\\ud800", "response_a": "a", "response_b": "b"}', "question: not valid Unicode"),
        ("[" * 100_000, "nested too deeply"),
        ('{"question": "q", "response_a": "a", "response_b": "b", "media": "a\\u0000b"}', "NUL character"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_malformed_sample_files_are_usage_errors(tmp_path: Path, content: str, message: str) -> None:
    sample = tmp_path / "pair.json"
    sample.write_text(content, encoding="utf-8")
    done = CliRunner().invoke(app, ["judge", "--sample", str(sample), "-b", "scripted"])
    assert done.exit_code == 2
    assert message in one_error_line(done.stderr)


# ---- 16.3: a JSONL line that is not UTF-8 is a skipped row ------------------------------------


def test_bench_skips_a_non_utf8_line_and_judges_the_rest(tmp_path: Path, make_bench_dataset, script: Path) -> None:
    data = make_bench_dataset(n=3)
    lines = data.read_bytes().splitlines(keepends=True)
    lines[1] = lines[1].replace(b"good answer 1", b"bonne r\xe9ponse 1")  # Latin-1 on line 2
    data.write_bytes(b"".join(lines))
    out = tmp_path / "run"
    args = ["bench", "--data", str(data), "-b", "scripted", "-O", f"script={script}", "--out", str(out)]
    done = CliRunner().invoke(app, [*args, "--modes", "single", "--frames", "2", "--no-report"])
    assert done.exit_code == 0, done.stderr
    assert f"skipped row: {data}:2: not UTF-8 (byte 0xe9" in done.stderr
    assert "2 judgments this run (0 errors)" in done.stdout


def test_an_overlong_jsonl_line_is_skipped_without_reading_it_whole(tmp_path: Path, monkeypatch) -> None:
    from vrb_agent.benchmark.datasets import common as datasets

    monkeypatch.setattr(datasets, "JSONL_LINE_LIMIT_MB", 1)
    row = {"id": "a", "media": "v.mp4", "question": "q", "chosen": "c", "rejected": "r", "dimension": "d"}
    path = tmp_path / "data.jsonl"
    path.write_bytes(b'{"id": "' + b"x" * (3 << 20) + b'"}\n' + json.dumps(row).encode() + b"\n")
    dataset = load_dataset("generic", path)
    assert [s.id for s in dataset.samples] == ["a"]
    assert dataset.issues == [f"{path}:1: line longer than 1 MB"]


# ---- 16.1 (CLI side) and the central mapping ---------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("no key"), 3),
        (AuthError("rejected"), 3),
        (MediaError("bomb.png", "image too large"), 4),
        (DatasetError("--data x: no such file"), 2),
        (OutDirError("--out x: a file"), 2),
        (RunLockedError("held by pid 7"), 6),
        (DiskFullError("disk full"), 7),
        (BackendUnreachableError("stopped the run"), 3),
        (VrbError("something to fix"), 1),
        (KeyboardInterrupt(), 130),
        (OSError(28, "No space left on device", "/run/evidence/a.jpg"), 1),
        (ZeroDivisionError("division by zero"), 1),
    ],
)
def test_failure_exit_maps_every_error_to_a_documented_code(error: BaseException, code: int) -> None:
    message, got = failure_exit(error)
    assert got == code and "\n" not in message
    if isinstance(error, OSError):
        assert message == "/run/evidence/a.jpg: No space left on device"
    if isinstance(error, ZeroDivisionError):
        assert "internal error: ZeroDivisionError" in message and "--debug" in message


def raise_inside_judge(error: BaseException):
    def judge(*_args, **_kwargs):
        raise error

    return judge


def test_a_media_error_from_deep_inside_judge_exits_4(monkeypatch, square_image: Path, script: Path) -> None:
    monkeypatch.setattr("vrb_agent.agents.api.judge", raise_inside_judge(MediaError("x.png", "decompression bomb")))
    done = CliRunner().invoke(app, judge_args(square_image, script=script))
    assert done.exit_code == 4 and one_error_line(done.stderr) == "error: x.png: decompression bomb"


def test_a_bug_is_one_line_with_a_debug_hint_and_debug_shows_the_traceback(
    monkeypatch, square_image: Path, script: Path
) -> None:
    monkeypatch.setattr("vrb_agent.agents.api.judge", raise_inside_judge(AttributeError("'str' has no 'usage'")))
    plain = CliRunner().invoke(app, judge_args(square_image, script=script))
    assert plain.exit_code == 1
    line = one_error_line(plain.stderr)
    assert "internal error: AttributeError: 'str' has no 'usage'" in line and "re-run with --debug" in line
    debug = CliRunner().invoke(app, ["--debug", *judge_args(square_image, script=script)])
    assert debug.exit_code == 1
    assert "Traceback (most recent call last)" in debug.stderr and debug.stderr.strip().endswith(line)


def test_bomb_png_exits_4_in_one_line_never_a_traceback(tmp_path: Path, script: Path) -> None:
    """16.1: the media layer turns PIL's DecompressionBombError into MediaError: exit 4, one line."""
    from PIL import Image

    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)
    done = subprocess.run(
        [sys.executable, "-m", "vrb_agent.cli", *judge_args(bomb, script=script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert "Traceback" not in done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("error: ") and "bomb.png" in line
    assert done.returncode == 4


def test_readme_exit_code_table_lists_every_code() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("Exit codes (every command):") :].split("\n\n", 1)[0]
    documented = {int(code) for code in re.findall(r"`(\d+)`", table)}
    codes = {exits.EXIT_FAILURE, exits.EXIT_USAGE, exits.EXIT_CONFIG, exits.EXIT_MEDIA, exits.EXIT_NO_VERDICT}
    assert codes | {0, exits.EXIT_INTERRUPTED, exits.EXIT_RUN_LOCKED, exits.EXIT_DISK_FULL} <= documented
