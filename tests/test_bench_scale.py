"""The benchmark at scale: bounded media handles and evidence stores over many samples, and shards
that partition the samples exactly and merge back into the unsharded run's metrics."""

from __future__ import annotations

import gc
import json
import shutil
import weakref
from collections import Counter
from pathlib import Path

import pytest

from vrb_agent.benchmark import BenchConfig, RunConfigError, run_benchmark, summarize, write_report
from vrb_agent.benchmark import runner as runner_module
from vrb_agent.benchmark.merge import ShardError, summarize_runs
from vrb_agent.benchmark.metrics import read_results
from vrb_agent.benchmark.pool import MediaPool
from vrb_agent.benchmark.shards import Shard, shard_index
from vrb_agent.judges.scripted import ScriptedBackend
from vrb_agent.tools.evidence import EvidenceStore
from vrb_agent.tools.media import Media, MediaError, open_media


def run(out: Path, data: Path, judge, **kwargs) -> runner_module.RunOutcome:
    kwargs.setdefault("backend", ScriptedBackend(model="fake-model"))
    return run_benchmark(out=out, dataset="generic", data=str(data), judge=judge, progress=False, **kwargs)


def one_video_per_sample(data: Path) -> Path:
    """Give every row of a make_bench_dataset JSONL its own copy of the video (a real dataset's shape)."""
    rows = [json.loads(x) for x in data.read_text().splitlines()]
    for i, row in enumerate(rows):
        shutil.copy(data.parent / "v.mp4", data.parent / f"v{i:03d}.mp4")
        row["media"] = f"v{i:03d}.mp4"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return data


# ---- memory: handles and stores bounded ---------------------------------------------------------


class Tracked:
    """Counts live media (opened, not closed) and live evidence stores while a bench runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened: list[Media] = []
        self.closed: set[int] = set()
        self.stores: weakref.WeakSet[EvidenceStore] = weakref.WeakSet()
        self.peak_media = self.peak_stores = 0
        real_close = Media.close
        real_init = EvidenceStore.__init__

        def close(media: Media) -> None:
            self.closed.add(id(media))
            real_close(media)

        def init(store: EvidenceStore, *args, **kwargs) -> None:
            real_init(store, *args, **kwargs)
            self.stores.add(store)

        monkeypatch.setattr(Media, "close", close)
        monkeypatch.setattr(EvidenceStore, "__init__", init)
        monkeypatch.setattr(runner_module, "open_media", lambda p: self.opened.append(open_media(p)) or self.opened[-1])

    def sample(self) -> None:
        """Record what is alive now (no gc.collect: a store held only by a cycle still counts)."""
        self.peak_media = max(self.peak_media, sum(id(m) not in self.closed for m in self.opened))
        self.peak_stores = max(self.peak_stores, len(self.stores))


def test_media_handles_and_stores_stay_bounded_over_many_samples(
    tmp_path, make_bench_dataset, fake_judge_cls, monkeypatch
):
    data = one_video_per_sample(make_bench_dataset(n=60))
    tracked = Tracked(monkeypatch)
    judge = fake_judge_cls(delay=0.002)

    async def observing_judge(*args, **kwargs):
        tracked.sample()
        return await judge(*args, **kwargs)

    outcome = run(tmp_path / "run", data, observing_judge, concurrency=4, k=[1, 2])
    assert outcome.done == 60 * 4 and outcome.errors == 0
    assert len(tracked.opened) == 60  # every file opened, once
    assert tracked.peak_media <= 4 + 2  # in use by the 4 workers + 2 idle; was one per sample (up to 64)
    assert tracked.closed == {id(m) for m in tracked.opened}  # every handle closed by the end of the run
    assert 1 <= tracked.peak_stores <= 4  # one evidence store per sample in flight, never per sample judged
    gc.collect()
    assert len(tracked.stores) == 0


def test_pool_shares_media_in_use_keeps_few_idle_and_closes_the_rest(make_bench_dataset):
    import asyncio

    data = one_video_per_sample(make_bench_dataset(n=5))
    paths = [data.parent / f"v{i:03d}.mp4" for i in range(5)]

    async def go() -> tuple[MediaPool, list[Media]]:
        pool = MediaPool(open_media, idle=1)
        first = await pool.acquire(paths[0])
        assert await pool.acquire(paths[0]) is first and pool.opens == 1  # shared while in use
        media = [first] + [await pool.acquire(p) for p in paths[1:]]
        assert pool.open_count == 5
        for p in paths[1:]:
            pool.release(p)
        assert pool.open_count == 2 and pool.closes == 3  # path 0 in use + the most recent idle one
        pool.release(paths[0])
        pool.release(paths[0])
        assert pool.open_count == 1 and await pool.acquire(paths[0]) is first  # the idle one is reused
        pool.release(paths[0])
        with pytest.raises(MediaError):
            await pool.acquire(data.parent / "missing.mp4")
        pool.close()
        return pool, media

    pool, media = asyncio.run(go())
    assert pool.open_count == 0 and pool.closes == 5 and pool.peak_open == 5
    with pytest.raises(MediaError, match="closed"):
        media[0].frames_at([0.7])  # not cached: needs the decoder, which is gone


def test_closed_media_keeps_cached_frames(bench_video):
    media = open_media(bench_video)
    before = media.frames_at([0.3])[0].image
    media.close()
    media.close()  # idempotent
    assert (media.frames_at([0.3])[0].image == before).all()


# ---- shards -------------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_ids_exactly_and_stably(count):
    ids = [f"sample-{i}" for i in range(500)]
    owners = {i: [s for s in range(1, count + 1) if Shard(s, count).holds(i)] for i in ids}
    assert all(len(v) == 1 for v in owners.values())  # union = all, no overlap
    sizes = Counter(v[0] for v in owners.values())
    assert len(sizes) == count and min(sizes.values()) > 500 / count * 0.6  # roughly even
    assert [shard_index(i, count) for i in reversed(ids)] == [owners[i][0] for i in reversed(ids)]


def test_shard_flag_is_validated():
    assert BenchConfig(data="x", shard=" 2/4").shard == "2/4"
    for bad in ("0/2", "3/2", "1", "a/b", "1/0"):
        with pytest.raises(ValueError, match="I/N"):
            BenchConfig(data="x", shard=bad)


def sharded_runs(tmp_path: Path, data: Path, judge, count: int, **kwargs) -> list[Path]:
    dirs = []
    for index in range(1, count + 1):
        out = tmp_path / f"shard-{index}"
        run(out, data, judge, shard=f"{index}/{count}", **kwargs)
        dirs.append(out)
    return dirs


def without_latency(value):
    """A summary without the latency figures (wall time, different in every run)."""
    if isinstance(value, dict):
        return {k: without_latency(v) for k, v in value.items() if not k.startswith("latency")}
    if isinstance(value, list):
        return [without_latency(v) for v in value]
    return value


def test_shards_cover_the_run_and_merge_to_the_unsharded_metrics(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=45, dims=("d0", "d1", "d2"))
    run(tmp_path / "whole", data, fake_judge)
    dirs = sharded_runs(tmp_path, data, fake_judge, 3)
    per_shard = [{r["sample_id"] for r in read_results(d / "results.jsonl")} for d in dirs]
    whole = {r["sample_id"] for r in read_results(tmp_path / "whole" / "results.jsonl")}
    assert set().union(*per_shard) == whole and sum(map(len, per_shard)) == len(whole) == 45
    assert all(per_shard)  # no empty shard
    identities = [json.loads((d / "run.json").read_text())["identity"] for d in dirs]
    assert [i["shard"] for i in identities] == ["1/3", "2/3", "3/3"]
    unsharded = json.loads((tmp_path / "whole" / "run.json").read_text())
    assert "shard" not in unsharded["identity"]  # unsharded runs keep their identity hash

    [merged] = (s.model_dump() for s in summarize_runs(dirs, "wrong", n_boot=500, seed=1))
    expected = summarize(tmp_path / "whole", "wrong", n_boot=500, seed=1).model_dump()
    for key in ("records", "samples", "conditions", "comparisons", "duplicates_ignored"):
        assert without_latency(merged[key]) == without_latency(expected[key]), key  # CIs included
    assert merged["run"]["identity_hash"] == unsharded["identity_hash"]
    shards = {"count": 3, "indices": [1, 2, 3], "complete": True, "run_dirs": list(map(str, dirs))}
    assert merged["run"]["shards"] == shards

    paths = write_report(dirs, tmp_path / "merged", n_boot=200)
    report = json.loads(paths["summary"].read_text())
    assert len(report["runs"]) == 1 and report["runs"][0]["records"] == 90
    html = paths["html"].read_text()
    assert "shards 3/3" in html
    for d in dirs:  # every sample links to the trace page in its own shard's RUN_DIR
        assert f"../{d.name}/traces/" in html


def test_resuming_with_another_shard_is_refused(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=10)
    run(tmp_path / "s", data, fake_judge, shard="1/2")
    with pytest.raises(RunConfigError, match=r"shard: '1/2' -> '2/2'"):
        run(tmp_path / "s", data, fake_judge, shard="2/2")
    assert run(tmp_path / "s", data, fake_judge, shard="1/2").done == 0  # same shard resumes
    with pytest.raises(RunConfigError, match=r"shard: '1/2' -> None"):
        run(tmp_path / "s", data, fake_judge)
    run(tmp_path / "whole", data, fake_judge)
    with pytest.raises(RunConfigError, match=r"shard: None -> '2/2'"):
        run(tmp_path / "whole", data, fake_judge, shard="2/2")


def test_report_refuses_shards_of_different_configurations(tmp_path, make_bench_dataset, fake_judge):
    data = make_bench_dataset(n=12)
    first = sharded_runs(tmp_path / "a", data, fake_judge, 2)
    other = sharded_runs(tmp_path / "b", data, fake_judge, 2, max_turns=3)
    with pytest.raises(ShardError, match=r"different configurations \(max_turns: 6 -> 3\)"):
        summarize_runs([first[0], other[1]], "wrong", n_boot=100)
    with pytest.raises(ShardError, match="shard 1/2 is given twice"):
        summarize_runs([first[0], first[0]], "wrong", n_boot=100)
    run(tmp_path / "third", data, fake_judge, shard="1/3")
    with pytest.raises(ShardError, match=r"different counts \(\[2, 3\]\)"):
        summarize_runs([*first, tmp_path / "third"], "wrong", n_boot=100)
    both = summarize_runs([*first, *other], "wrong", n_boot=100)  # two complete sharded runs: side by side
    assert [s.run["identity"]["max_turns"] for s in both] == [6, 3]
    report = json.loads(write_report([*first, *other], tmp_path / "cmp", n_boot=100)["summary"].read_text())
    assert report["side_by_side"]["shared_samples"] == 12  # compared on all samples of both merged runs
    alone = summarize_runs([first[1]], "wrong", n_boot=100)  # one shard alone: reported, marked incomplete
    assert alone[0].run["shards"]["complete"] is False


def test_cli_shards_and_report_merges_or_refuses_them(tmp_path, make_bench_dataset):
    from typer.testing import CliRunner

    from vrb_agent.cli import app

    data = make_bench_dataset(n=6)
    script = tmp_path / "script.json"
    script.write_text(json.dumps([{"text": "Overall Judgment: Answer A is better."}] * 12))
    base = ["bench", "--data", str(data), "--backend", "scripted", "-O", f"script={script}", "--modes", "single"]
    runner = CliRunner()
    for index, frames in ((1, "4"), (2, "4"), (2, "8")):
        out = tmp_path / f"f{frames}-s{index}"
        done = runner.invoke(
            app, [*base, "--frames", frames, "--shard", f"{index}/2", "--out", str(out), "--no-report"]
        )
        assert done.exit_code == 0, done.stderr
    bad = runner.invoke(app, [*base, "--shard", "3/2", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--shard: Value error, shard '3/2' is not I/N" in bad.stderr
    merged = runner.invoke(
        app, ["report", str(tmp_path / "f4-s1"), str(tmp_path / "f4-s2"), "--out", str(tmp_path / "m")]
    )
    assert merged.exit_code == 0, merged.stderr
    summary = json.loads((tmp_path / "m" / "summary.json").read_text())
    assert len(summary["runs"]) == 1 and summary["runs"][0]["samples"] == 6
    mixed = runner.invoke(app, ["report", str(tmp_path / "f4-s1"), str(tmp_path / "f8-s2")])
    assert mixed.exit_code == 2 and "judged different cells (single frames=4 k=1, single frames=8 k=1" in mixed.stderr
    assert len(mixed.stderr.strip().splitlines()) == 1
