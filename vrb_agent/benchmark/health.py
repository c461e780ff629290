"""Warnings about a run as a whole, shown above its numbers (CLI summary, summary.json, report.md,
report.html): a run in which every record is an error measures nothing, and a run that holds
fewer cells than it was asked for (stopped early, still running) measures less than it says."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def all_errors(records: Sequence[dict[str, Any]]) -> bool:
    return bool(records) and all(r.get("status") == "error" for r in records)


def run_warnings(records: Sequence[dict[str, Any]], expected_cells: int | None) -> list[str]:
    """The warnings for a run's records; `expected_cells` is run.json's `cells` (None when unknown)."""
    warnings = []
    if all_errors(records):
        first = str(records[0].get("error") or "no message")[:300]
        warnings.append(
            f"every one of the {len(records)} records is an error, so these results measure nothing "
            f"(first error: {first})"
        )
    ran = len({(r.get("sample_id"), r.get("mode"), r.get("frames"), r.get("k"), r.get("control")) for r in records})
    if expected_cells and ran < expected_cells:
        warnings.append(
            f"only {ran} of {expected_cells} cells ran: the run stopped early or is unfinished "
            "(run the same bench command to resume)"
        )
    return warnings
