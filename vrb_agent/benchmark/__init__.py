"""Benchmarks: datasets, the resumable runner, metrics and reports (agentic vs single-pass judging)."""

from vrb_agent.benchmark.cache import CachedBackend
from vrb_agent.benchmark.config import BenchConfig
from vrb_agent.benchmark.datasets import Dataset, DatasetError, Sample, load_dataset
from vrb_agent.benchmark.manifest import RunConfigError
from vrb_agent.benchmark.metrics import summarize
from vrb_agent.benchmark.report import headline, write_report
from vrb_agent.benchmark.runner import RunOutcome, arun_benchmark, run_benchmark

__all__ = [
    "BenchConfig",
    "CachedBackend",
    "Dataset",
    "DatasetError",
    "RunConfigError",
    "RunOutcome",
    "Sample",
    "arun_benchmark",
    "headline",
    "load_dataset",
    "run_benchmark",
    "summarize",
    "write_report",
]
