"""What `vrb-agent data check` prints: the load as a run would see it, judged by nobody."""

from __future__ import annotations

from vrb_agent.benchmark.datasets.common import PLACEHOLDER, Dataset

SHOWN = 10  # skipped rows and missing media listed by name; the rest counted


def check_report(dataset: Dataset) -> list[str]:
    """Files read, fields used, counts per dimension/source (against the paper's), repeated ids,
    missing media, placeholder tokens left in questions, and the first skipped rows."""
    lines = [f"dataset {dataset.name}: {', '.join(str(f) for f in dataset.files) or dataset.path}"]
    lines.append("fields used: " + ", ".join(f"{k}={v}" for k, v in dataset.fields.items()))
    lines.append(f"{len(dataset.samples)} samples would be judged, {len(dataset.issues)} rows skipped")
    lines += dataset.notes
    dropped = sum(": duplicate " in issue for issue in dataset.issues)
    lines.append(f"duplicates: {dropped} rows dropped as repeats (listed with the skipped rows)")
    lines += _media_lines(dataset)
    tokens = [s.id for s in dataset.samples if PLACEHOLDER.search(s.question)]
    lines.append(f"placeholder tokens (<image>, <video>) left in {len(tokens)} questions" + _first(tokens))
    lines += [f"skipped: {issue}" for issue in dataset.issues[:SHOWN]]
    if len(dataset.issues) > SHOWN:
        lines.append(f"... and {len(dataset.issues) - SHOWN} more skipped rows")
    return lines


def _media_lines(dataset: Dataset) -> list[str]:
    refused = [s for s in dataset.samples if s.error]
    missing = [s for s in dataset.samples if not s.error and not s.media.is_file()]
    lines = [f"missing media: {len(missing)} samples" + _first([f"{s.id} ({s.media})" for s in missing])]
    if refused:
        lines.append(f"unusable media paths: {len(refused)} samples" + _first([f"{s.id}: {s.error}" for s in refused]))
    return lines


def _first(items: list[str]) -> str:
    if not items:
        return ""
    more = f", ... {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return " (" + ", ".join(items[:SHOWN]) + more + ")"
