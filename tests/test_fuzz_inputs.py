"""Fuzzing what a user controls (issue 16): text arguments and `@file` bytes, `--sample` JSON,
generic JSONL rows and VideoRewardBench fields. Whatever hypothesis draws, the outcome is a
documented exit code with one `error:` line, or a reported skip; never a traceback. Bounded
examples and a deadline keep it fast enough for every CI run."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tests.graph_support import text
from vrb_agent.benchmark.datasets import REQUIRED, VRB_CANDIDATES, DatasetError, load_dataset
from vrb_agent.cli import app
from vrb_agent.cli.exits import EXIT_USAGE, failure_exit, one_line
from vrb_agent.cli.inputs import read_sample_file, read_text_arg
from vrb_agent.errors import InputError

# VRB_FUZZ_EXAMPLES=600 fuzzes harder locally; CI keeps the default.
EXAMPLES = int(os.environ.get("VRB_FUZZ_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow])

# Text with what hostile input holds: lone surrogates (undecodable argv bytes, "\ud800" escapes),
# NUL, control characters, a BOM, right-to-left marks, plus ordinary Unicode.
nasty_chars = st.sampled_from(["\x00", "\ud800", "\udce9", "\ufeff", "\u202e", "\r", "\n", "@", "\\", '"'])
texts = st.lists(st.one_of(st.characters(), nasty_chars), max_size=30).map("".join)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=12,
)
file_bytes = st.one_of(
    st.binary(max_size=200),
    texts.map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.sampled_from([b"\xef\xbb\xbfbom", "caf\u00e9".encode("latin-1"), b"\xff\xfe\x00a"]),
)


def encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def usage_error_or(call: Any) -> Any:
    """`call()`'s value, or None after asserting it failed the documented way: exit 2, one line."""
    try:
        return call()
    except InputError as exc:
        message, code = failure_exit(exc)
        assert code == EXIT_USAGE
        assert "\n" not in one_line(message) and one_line(message).isprintable(), message
        return None


@FAST
@given(value=texts)
def test_text_arguments(value: str) -> None:
    """Literal texts, and `@` paths that are not files (NUL, surrogates, directories, missing)."""
    got = usage_error_or(lambda: read_text_arg(value, "--response-a"))
    if got is not None:
        assert encodable(got)
        assert got == (value[1:] if value.startswith("@@") else value)  # no drawn @path names a file


@FAST
@given(content=file_bytes)
def test_at_file_texts(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "a.txt"
        path.write_bytes(content)
        got = usage_error_or(lambda: read_text_arg(f"@{path}", "--response-a"))
    if got is not None:
        assert encodable(got) and got == content.decode("utf-8-sig")


@FAST
@given(content=st.one_of(file_bytes, json_values.map(lambda v: json.dumps(v).encode())))
def test_sample_files(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pair.json"
        path.write_bytes(content)
        sample = usage_error_or(lambda: read_sample_file(path))
    if sample is not None:
        assert set(sample) <= {"question", "response_a", "response_b", "media"}
        assert all(isinstance(v, str) and encodable(v) for v in sample.values())


row_fields = [*REQUIRED, "meta", "source"]
rows = st.fixed_dictionaries({}, optional={f: st.one_of(texts, json_values) for f in row_fields})
jsonl_lines = st.one_of(
    rows.map(lambda r: json.dumps(r).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b"")),
)


@FAST
@given(lines=st.lists(jsonl_lines, min_size=1, max_size=8))
def test_generic_jsonl_rows_are_samples_or_reported_skips(lines: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "data.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        try:
            dataset = load_dataset("generic", path)
        except DatasetError as exc:
            assert "holds no rows" in str(exc)
            return
    numbered = [n for n, line in enumerate(lines, start=1) if line.strip()]
    kept = [s.meta["line"] for s in dataset.samples]
    skipped = [int(issue.split(":")[len(str(path).split(":"))]) for issue in dataset.issues]
    assert sorted(kept + skipped) == numbered  # every line: a sample or a reported skip, once
    for sample in dataset.samples:
        assert all(encodable(v) for v in (sample.id, sample.question, sample.chosen, sample.rejected))


vrb_columns = sorted({c for names in VRB_CANDIDATES.values() for c in names})
vrb_rows = st.fixed_dictionaries({}, optional={c: st.one_of(texts, json_values) for c in vrb_columns[:12]})


@FAST
@given(items=st.lists(st.one_of(vrb_rows, json_values), min_size=1, max_size=6))
def test_videorewardbench_fields(items: list[Any]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "annotations.json"
        path.write_text(json.dumps(items), encoding="utf-8")
        try:
            dataset = load_dataset("videorewardbench", path)
        except DatasetError:
            return  # a file-level problem (no rows, no column for a field): one line, exit 2
    assert len(dataset.samples) + len(dataset.issues) == len(items)


@pytest.fixture(scope="module")
def verdict_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzz") / "script.json"
    path.write_text(json.dumps([text("Overall Judgment: Answer A is better.").model_dump(mode="json")] * 2))
    return path


@settings(
    max_examples=max(1, EXAMPLES // 4), deadline=timedelta(seconds=10), suppress_health_check=[HealthCheck.too_slow]
)
@given(question=texts, response_a=texts)
def test_judge_cli_end_to_end(question: str, response_a: str, square_image: Path, verdict_script: Path) -> None:
    """Through the whole `judge` command: a verdict (exit 0) or a usage error (exit 2), one line."""
    args = ["judge", str(square_image), "-q", question or "Q", "--response-a", response_a or "A"]
    args += ["--response-b", "B.", "--mode", "single", "--frames", "2", "-b", "scripted"]
    done = CliRunner().invoke(app, [*args, "-O", f"script={verdict_script}"])
    assert done.exit_code in (0, EXIT_USAGE), done.stderr
    assert done.exception is None or isinstance(done.exception, SystemExit)
    if done.exit_code == EXIT_USAGE:
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ")
