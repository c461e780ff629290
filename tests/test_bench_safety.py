"""Data safety of `bench` (issue 16 items 4, 8, 9, 10; issue 14 items 3 and 9): --out naming a file,
one writer per RUN_DIR, a full disk, corrupt result lines, a backend that cannot be reached, retry
lines under the progress bar, datasets with nothing to judge, all-error runs, symlinked media, and
resume across a growing sweep or the same data named two ways."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vrb_agent.benchmark import CachedBackend, RunConfigError, load_dataset, run_benchmark, summarize
from vrb_agent.benchmark import diskspace as diskspace_module
from vrb_agent.benchmark.diskspace import DiskFullError
from vrb_agent.benchmark.failstop import BackendUnreachableError
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.benchmark.progress import Progress
from vrb_agent.cli import app
from vrb_agent.judges.base import ModelReply, TransientError
from vrb_agent.judges.scripted import ScriptedBackend

REPO = Path(__file__).resolve().parents[1]
PROVIDER_ENV = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VRB_BACKEND", "VRB_SCRIPT")


def run(out: Path, data: Path, judge, **kwargs):
    kwargs.setdefault("backend", ScriptedBackend(model="fake-model"))
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def cells(path: Path) -> Counter:
    return Counter((r["sample_id"], r["mode"], r["frames"], r["k"]) for r in read_results(path))


@pytest.fixture
def script(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """VRB_SCRIPT for `--backend scripted`: single-pass verdicts for 100 calls."""
    path = tmp_path / "script.json"
    path.write_text(json.dumps([{"text": "Overall Judgment: Answer A is better."}] * 100))
    monkeypatch.setenv("VRB_SCRIPT", str(path))
    return path


def bench(*args: str):
    return CliRunner().invoke(app, ["bench", "--backend", "scripted", "--modes", "single", "--no-report", *args])


def one_line(text: str) -> bool:
    return len(text.strip().splitlines()) == 1 and "Traceback" not in text


# ---- 16.4: --out naming a file ---------------------------------------------------------------------


def test_out_naming_a_regular_file_is_a_one_line_usage_error(tmp_path, make_bench_dataset, script):
    data = make_bench_dataset(n=2)
    target = tmp_path / "not-a-dir.txt"
    target.write_text("keep me")
    result = bench("--data", str(data), "--out", str(target))
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "is a file, not a RUN_DIR directory" in result.stderr and str(target) in result.stderr
    under = bench("--data", str(data), "--out", str(target / "sub"))
    assert under.exit_code == 2 and one_line(under.stderr) and "cannot create the RUN_DIR" in under.stderr
    assert target.read_text() == "keep me"


# ---- 16.8: one writer per RUN_DIR --------------------------------------------------------------------

HOLDER = """
import sys
sys.path.insert(0, {tests!r})
from conftest import FakeJudge
from vrb_agent.benchmark import run_benchmark
from vrb_agent.judges.scripted import ScriptedBackend
run_benchmark(out=sys.argv[1], dataset="generic", data=sys.argv[2], backend=ScriptedBackend(),
              judge=FakeJudge(delay=float(sys.argv[3])), concurrency=2, progress=False, modes=["single"])
"""


def test_a_second_bench_on_a_run_dir_refuses_naming_the_holder_and_a_killed_holder_is_stale(
    tmp_path, make_bench_dataset, script
):
    data = make_bench_dataset(n=80)  # 20 s of work for the holder: it is still running when the second asks
    holder_py = tmp_path / "holder.py"
    holder_py.write_text(HOLDER.format(tests=str(REPO / "tests")))
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    holder = subprocess.Popen([sys.executable, str(holder_py), str(out), str(data), "0.5"], env=env)
    try:
        deadline = time.monotonic() + 60
        while not (out / "results.jsonl").is_file() and time.monotonic() < deadline:
            time.sleep(0.05)
        command = [sys.executable, "-m", "vrb_agent.cli", "bench", "--backend", "scripted", "--modes", "single"]
        second = subprocess.run(
            [*command, "--data", str(data), "--out", str(out), "--no-report"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert holder.poll() is None, "the holder finished before the second bench ran"
        assert second.returncode == 6 and one_line(second.stderr), second.stderr
        assert f"pid {holder.pid} on host {socket.gethostname()}" in second.stderr
        assert "another `vrb-agent bench`" in second.stderr
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / "bench.lock").is_file()  # left behind by SIGKILL: stale, since its flock died with it
    lines_at_kill = (out / "results.jsonl").read_bytes().count(b"\n")
    assert lines_at_kill < 80
    resumed = subprocess.run(
        [sys.executable, str(holder_py), str(out), str(data), "0"], env=env, timeout=120, check=False
    )
    assert resumed.returncode == 0
    counts = cells(out / "results.jsonl")
    assert len(counts) == 80 and set(counts.values()) == {1}
    assert not (out / "bench.lock").exists()  # released at the end of the run


# ---- 16.9: disk full ---------------------------------------------------------------------------------


def short_writes_then_enospc(monkeypatch: pytest.MonkeyPatch, good_writes: int) -> None:
    """From the write layer's view the disk fills up: after `good_writes` writes, one short write
    (half the bytes) and then ENOSPC for every write."""
    real_write = diskspace_module.write
    count = {"n": 0}

    def write(fd: int, data) -> int:
        count["n"] += 1
        if count["n"] <= good_writes:
            return real_write(fd, data)
        if count["n"] == good_writes + 1 and len(data) > 1:
            return real_write(fd, bytes(data[: len(data) // 2]))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(diskspace_module, "write", write)


def test_disk_full_stops_the_run_with_exit_7_and_resume_completes(tmp_path, make_bench_dataset, script, monkeypatch):
    data = make_bench_dataset(n=12)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        short_writes_then_enospc(patch, good_writes=6)
        full = bench("--data", str(data), "--out", str(out), "--concurrency", "1")
    assert full.exit_code == 7 and one_line(full.stderr), full.stderr
    assert "disk full" in full.stderr and "run the same command to resume" in full.stderr
    raw = (out / "results.jsonl").read_bytes()
    assert raw.endswith(b"\n") and all(json.loads(line) for line in raw.splitlines())  # whole lines only
    before = len(raw.splitlines())
    assert 0 < before < 12
    index = (out / "evidence" / "index.jsonl").read_bytes() if (out / "evidence" / "index.jsonl").exists() else b""
    assert all(json.loads(line) for line in index.splitlines())
    indexed = {json.loads(line)["id"] for line in index.splitlines()}
    assert {p.stem for p in (out / "evidence").glob("*.jpg")} == indexed  # no image without its label
    again = bench("--data", str(data), "--out", str(out))
    assert again.exit_code == 0, again.stderr
    assert f"{12 - before} judgments this run" in again.stdout
    counts = cells(out / "results.jsonl")
    assert len(counts) == 12 and set(counts.values()) == {1}


def test_disk_full_from_evidence_images_is_a_disk_full_stop(tmp_path, make_bench_dataset, fake_judge, monkeypatch):
    data = make_bench_dataset(n=4)
    real = Path.write_bytes

    def full(self: Path, content: bytes) -> int:
        if self.suffix == ".tmp" and self.parent.name == "evidence":
            real(self, content[:10])
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real(self, content)

    with monkeypatch.context() as patch:
        patch.setattr(Path, "write_bytes", full)
        with pytest.raises(DiskFullError, match=r"disk full writing .*evidence.*\.tmp"):
            run(tmp_path / "run", data, fake_judge, concurrency=1)
    assert not list((tmp_path / "run" / "evidence").glob("*.tmp"))  # no half image left
    outcome = run(tmp_path / "run", data, fake_judge)
    assert outcome.done + outcome.already_done == 8
    index = [json.loads(x) for x in (tmp_path / "run" / "evidence" / "index.jsonl").read_text().splitlines()]
    jpegs = {p.stem for p in (tmp_path / "run" / "evidence").glob("*.jpg")}
    assert jpegs == {e["id"] for e in index} and len(index) == len(jpegs)  # each image once, with its label


def test_disk_full_in_the_response_cache_stops_the_run_instead_of_erroring_every_cell(
    tmp_path, make_bench_dataset, monkeypatch
):
    data = make_bench_dataset(n=3)
    verdict = ScriptedBackend(lambda request: ModelReply(text="Overall Judgment: Answer A is better."))
    kwargs = {"dataset": "generic", "data": str(data), "progress": False, "modes": ["single"]}

    def full(path: Path, reply: ModelReply) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(CachedBackend, "_store", staticmethod(full))
        with pytest.raises(DiskFullError, match="No space left on device"):
            run_benchmark(out=tmp_path / "run", backend=verdict, cache_dir=tmp_path / "cache", **kwargs)
    assert not (tmp_path / "run" / "results.jsonl").read_text()  # no cell became an error record
    outcome = run_benchmark(out=tmp_path / "run", backend=verdict, cache_dir=tmp_path / "cache", **kwargs)
    assert outcome.done == 3 and outcome.errors == 0


@pytest.fixture
def tiny_fs(tmp_path: Path):
    """A real 512 KiB tmpfs (needs root / CAP_SYS_ADMIN, else the test is skipped)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_really_full_filesystem_stops_and_resumes(tmp_path, make_bench_dataset, script, tiny_fs):
    data = make_bench_dataset(n=30)
    out = tiny_fs / "run"
    filler = tiny_fs / "filler"
    free = shutil.disk_usage(tiny_fs).free
    filler.write_bytes(b"\0" * (free - 72 * 1024))  # room for the images and a few records only
    env = {k: v for k, v in os.environ.items() if k not in PROVIDER_ENV}
    command = [sys.executable, "-m", "vrb_agent.cli", "bench", "--backend", "scripted", "--modes", "single"]
    command += ["--data", str(data), "--out", str(out), "--no-report", "--concurrency", "2"]
    env = {**env, "PYTHONPATH": str(REPO), "VRB_SCRIPT": str(script)}
    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert full.returncode == 7 and one_line(full.stderr), full.stderr
    assert "No space left on device" in full.stderr
    raw = (out / "results.jsonl").read_bytes() if (out / "results.jsonl").exists() else b""
    assert not raw or raw.endswith(b"\n")
    done_before = len(raw.splitlines())
    assert 0 < done_before < 30, full.stderr  # stopped mid-run, with whole lines only
    filler.unlink()
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0, again.stderr
    assert f"{30 - done_before} judgments this run" in again.stdout
    counts = cells(out / "results.jsonl")
    assert len(counts) == 30 and set(counts.values()) == {1}


# ---- 16.10: corrupt result lines ---------------------------------------------------------------------


def test_corrupt_middle_lines_are_quarantined_reported_and_redone(tmp_path, make_bench_dataset, script):
    data = make_bench_dataset(n=6)
    out = tmp_path / "run"
    assert bench("--data", str(data), "--out", str(out)).exit_code == 0
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    lost = [json.loads(lines[i])["sample_id"] for i in (1, 3, 4)]
    lines[1] = lines[1][:40] + b"\n"  # cut in the middle (not the last line)
    lines[3] = b'{"sample_id": "s", "mode": "single", "note": "\xff\xfe latin-1 \xe9"}\n'  # not UTF-8
    lines[4] = b"[1, 2]\n"  # JSON, but no record
    (out / "results.jsonl").write_bytes(b"".join(lines))
    again = bench("--data", str(data), "--out", str(out))
    assert again.exit_code == 0 and "Traceback" not in again.stderr, again.stderr
    assert "results.jsonl:2: corrupt result line" in again.stderr
    assert "results.jsonl:4: corrupt result line (not UTF-8 at byte" in again.stderr
    assert "results.jsonl:5: corrupt result line (a JSON list, not a record)" in again.stderr
    assert "3 judgments this run" in again.stdout
    quarantine = [json.loads(x) for x in (out / "results.quarantine.jsonl").read_text().splitlines()]
    assert [q["line"] for q in quarantine] == [2, 4, 5]
    assert quarantine[0]["text"] == lines[1][:40].decode() and "\\xff\\xfe" in quarantine[1]["text"]
    counts = cells(out / "results.jsonl")
    assert len(counts) == 6 and set(counts.values()) == {1}
    assert {sid for sid, *_ in counts} >= set(lost)


# ---- 14.3: a run that cannot succeed stops ---------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_bench_against_an_unreachable_server_stops_with_exit_3(tmp_path, make_bench_dataset, monkeypatch):
    for name in PROVIDER_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "fake-test-key-0000")
    data = make_bench_dataset(n=30)
    out = tmp_path / "run"
    url = f"http://127.0.0.1:{closed_port()}/v1"
    flags = ["--backend", "openai", "--model", "gpt-4o", "--base-url", url, "--concurrency", "2"]
    retries = ["-O", "max_retries=1", "-O", "retry_base_s=0.01"]
    result = CliRunner().invoke(app, ["bench", "--data", str(data), "--out", str(out), *flags, *retries])
    assert result.exit_code == 3 and one_line(result.stderr), result.stderr
    assert "stopped the run: the last 8 model calls all failed" in result.stderr
    assert "connection failed" in result.stderr and "--retry-errors" in result.stderr
    records = read_results(out / "results.jsonl")
    assert 1 <= len(records) < 20 and all(r["status"] == "error" for r in records)  # bounded, kept
    warnings = summarize(out).warnings
    assert any(f"only {len(records)} of 60 cells ran" in w for w in warnings)
    assert any("every one of the" in w for w in warnings)


def test_consecutive_failures_stop_and_a_fixed_server_resumes(tmp_path, make_bench_dataset, fake_judge_cls):
    """The stop counts consecutive failed calls only: a success resets it; resuming with
    --retry-errors judges the failed cells once the server is back."""
    data = make_bench_dataset(n=20)
    calls = {"n": 0}

    def flaky(request):
        calls["n"] += 1
        if calls["n"] % 4 == 0:  # three failures in four never reach the limit of eight
            return ModelReply(text="ok")
        raise TransientError("openai: connection failed (http://127.0.0.1:9/v1)")

    class CallingJudge(fake_judge_cls):
        async def __call__(self, media, question, response_a, response_b, *, backend, **kwargs):
            await backend.complete(None)
            return await super().__call__(media, question, response_a, response_b, backend=backend, **kwargs)

    survived = run(tmp_path / "a", data, CallingJudge(), backend=ScriptedBackend(flaky), concurrency=1)
    assert survived.done == 40 and survived.errors == 30

    def down(request):
        raise TransientError("openai: connection failed (http://127.0.0.1:9/v1)")

    with pytest.raises(BackendUnreachableError, match="last 8 model calls all failed"):
        run(tmp_path / "b", data, CallingJudge(), backend=ScriptedBackend(down), concurrency=1)
    assert len(read_results(tmp_path / "b" / "results.jsonl")) == 7  # the eighth call stopped the run
    back = run(tmp_path / "b", data, CallingJudge(), backend=ScriptedBackend(lambda r: ModelReply(text="ok")),
               concurrency=1, retry_errors=True)  # fmt: skip
    assert back.done == 40
    records = read_results(tmp_path / "b" / "results.jsonl")
    assert len(records) == 40 and all(r["status"] == "ok" for r in records)
    assert summarize(tmp_path / "b").warnings == []


def test_retry_lines_are_counted_in_the_bar_not_printed(capsys):
    retry_log = logging.getLogger("vrb_agent.judges.retry")
    with Progress(10, 0, enabled=True) as bar:
        for n in range(50):
            retry_log.warning("openai: connection failed; retry %d/4 in 0.1s", n)
        logging.getLogger("vrb_agent.tools.media").warning("a decoder note")
    err = capsys.readouterr().err
    assert bar.retries == 50 and "retries 50" in bar.line()
    assert "retry 3/4" not in err and err.count("a decoder note") == 1
    assert logging.getLogger("vrb_agent").propagate  # restored after the bar
    assert Progress(10, 0, enabled=False).retries == 0


def test_a_dataset_without_valid_rows_exits_2_with_a_message(tmp_path, script):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"id": "a"}\nnot json\n')
    result = bench("--data", str(data), "--out", str(tmp_path / "run"))
    assert result.exit_code == 2 and one_line(result.stderr)
    assert "no valid rows (2 skipped; first problem:" in result.stderr and str(data) in result.stderr


def test_dims_matching_nothing_exits_2(tmp_path, make_bench_dataset, script):
    data = make_bench_dataset(n=2)
    result = bench("--data", str(data), "--out", str(tmp_path / "run"), "--dims", "nope")
    assert result.exit_code == 2 and "--dims nope: matches no sample" in result.stderr and "d0, d1" in result.stderr


def test_a_run_where_every_record_is_an_error_says_so_and_exits_5(tmp_path, make_bench_dataset, script):
    data = make_bench_dataset(n=3)
    (data.parent / "v.mp4").unlink()  # every sample's media is missing
    out = tmp_path / "run"
    result = CliRunner().invoke(
        app, ["bench", "--backend", "scripted", "--modes", "single", "--data", str(data), "--out", str(out)]
    )
    assert result.exit_code == 5, result.stderr
    assert "warning: all 3 records are errors" in result.stderr
    assert "WARNING: every one of the 3 records is an error" in result.stdout  # the headline
    summary = json.loads((out / "summary.json").read_text())
    assert "every one of the 3 records is an error" in summary["runs"][0]["warnings"][0]
    assert '<p class="warning"><b>Warning:</b> every one of the 3 records' in (out / "report.html").read_text()
    assert "> **Warning:** every one of the 3 records" in (out / "report.md").read_text()


# ---- 14.3: symlinked media ---------------------------------------------------------------------------


def row(i: int, media: str) -> dict:
    return {"id": f"p{i}", "media": media, "question": "q", "chosen": "c", "rejected": "r", "dimension": "d"}


def test_symlinked_media_inside_the_root_work_and_traversal_stays_refused(tmp_path, bench_video, fake_judge):
    root = tmp_path / "ds"
    (root / "clips").mkdir(parents=True)
    outside = tmp_path / "big-disk"
    outside.mkdir()
    shutil.copy(bench_video, outside / "real.mp4")
    shutil.copy(bench_video, root / "clips" / "inside.mp4")
    (root / "videos").symlink_to(outside, target_is_directory=True)  # a directory link out of the root
    (root / "linked.mp4").symlink_to(root / "clips" / "inside.mp4")  # a link inside pointing inside
    (root / "snapshot.mp4").symlink_to(outside / "real.mp4")  # like a Hugging Face snapshot entry
    rows = [
        row(1, "videos/real.mp4"),
        row(2, "linked.mp4"),
        row(3, "snapshot.mp4"),
        row(4, "videos/../../big-disk/real.mp4"),  # `..` through a link: judged after resolving
        row(5, "../big-disk/real.mp4"),
        row(6, str(outside / "real.mp4")),
    ]
    data = root / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = {s.id: s for s in load_dataset("generic", data).samples}
    assert samples["p1"].error is None and samples["p1"].media == root / "videos" / "real.mp4"
    assert samples["p2"].error is None and samples["p3"].error is None
    assert "escapes the dataset root" in samples["p4"].error
    assert "escapes the dataset root" in samples["p5"].error
    assert "absolute and outside the dataset root" in samples["p6"].error

    class AnyAnswer(type(fake_judge)):
        async def __call__(self, media, question, response_a, response_b, **kwargs):
            return await super().__call__(media, question, "good answer 1", "bad answer 1", **kwargs)

    outcome = run(tmp_path / "run", data, AnyAnswer(), modes=["single"])
    status = {r["sample_id"]: r["status"] for r in read_results(outcome.results_path)}
    assert status == {"p1": "ok", "p2": "ok", "p3": "ok", "p4": "error", "p5": "error", "p6": "error"}


# ---- 14.9: resume across a growing sweep and the same data named two ways --------------------------


def test_a_growing_sweep_resumes_its_finished_cells(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=3)
    first = run(tmp_path / "run", data, fake_judge, frames=[4], modes=["single"])
    grown = run(tmp_path / "run", data, fake_judge, frames=[4, 8], k=[1, 3], modes=["single", "agentic"])
    assert first.done == 3 and grown.already_done == 3 and grown.done == 3 * 8 - 3
    counts = cells(tmp_path / "run" / "results.jsonl")
    assert len(counts) == 24 and set(counts.values()) == {1}
    shrunk = run(tmp_path / "run", data, fake_judge, frames=[8], modes=["agentic"])
    assert shrunk.done == 0 and shrunk.already_done == 3 and len(cells(tmp_path / "run" / "results.jsonl")) == 24


def test_the_same_file_named_two_ways_is_the_same_data(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=3)
    suite = data.parent
    data.rename(suite / "probes.jsonl")
    kwargs = {"dataset": "probes", "judge": fake_judge, "progress": False, "backend": ScriptedBackend()}
    first = run_benchmark(out=tmp_path / "run", data=str(suite), **kwargs)
    again = run_benchmark(out=tmp_path / "run", data=str(suite / "probes.jsonl"), **kwargs)
    assert first.done == 6 and again.done == 0 and again.already_done == 6
    moved = tmp_path / "moved"
    shutil.copytree(suite, moved)  # a copy elsewhere is the same data too
    assert run_benchmark(out=tmp_path / "run", data=str(moved), **kwargs).already_done == 6


def test_real_changes_are_still_refused(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=3)
    other = make_bench_dataset(n=3, name="other")
    rows = [json.loads(x) for x in other.read_text().splitlines()]
    rows[1]["chosen"] = "good answer 1, edited"
    other.write_text("".join(json.dumps(r) + "\n" for r in rows))
    run(tmp_path / "run", data, fake_judge)
    with pytest.raises(RunConfigError, match=r"dataset_fingerprint: .*rows or media files differ"):
        run(tmp_path / "run", other, fake_judge)
    with pytest.raises(RunConfigError, match="model: 'fake-model' -> 'other-model'"):
        run(tmp_path / "run", data, fake_judge, backend=ScriptedBackend(model="other-model"))
    (data.parent / "v.mp4").write_bytes((data.parent / "v.mp4").read_bytes() + b"\0")  # the video changed
    with pytest.raises(RunConfigError, match="dataset_fingerprint"):
        run(tmp_path / "run", data, fake_judge)
    assert run(tmp_path / "run", data, fake_judge, force_new=True).done == 6
