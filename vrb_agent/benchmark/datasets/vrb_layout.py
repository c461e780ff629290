"""How a VideoRewardBench annotation file is laid out. No official format is published, so the
loader finds each field among candidate column names (case-insensitive, `--field-map` first) and
derives the pair from one of three layouts:

- direct: `chosen` and `rejected` columns;
- label: two response columns (`response_a`/`response_b`, ...) and a label naming the better one
  (`A`/`B`, `1`/`2`, or the column's name);
- ranking: a list of responses and a ranking of the same length, lower is better (VL-RB's
  `human_ranking`): chosen is the best ranked, rejected the worst.

Dimensions are strict: the five of the paper, spelled any way (`Long-Form Perception`,
`long_perception`), a `perception` dimension with a long/short sub-dimension column, or a
`--dim-map OLD=NEW`; any other name is an error that lists them all.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from vrb_agent.benchmark.datasets.common import REQUIRED, DatasetError, lookup, parse_pairs

# Candidate column names tried, in order, when no --field-map entry names the field.
VRB_CANDIDATES: dict[str, tuple[str, ...]] = {
    "id": ("id", "sample_id", "uid", "idx", "index", "qid"),
    "media": ("video", "video_path", "video_name", "video_id", "media", "path", "file"),
    "question": ("question", "prompt", "query", "instruction", "input"),
    "chosen": ("chosen", "chosen_response", "response_chosen", "preferred", "better_response", "winner"),
    "rejected": ("rejected", "rejected_response", "response_rejected", "dispreferred", "worse_response", "loser"),
    "dimension": ("dimension", "category", "task_type", "type", "aspect", "domain"),
}
OPTIONAL_CANDIDATES: dict[str, tuple[str, ...]] = {
    "source": ("source", "data_source", "source_dataset", "dataset", "origin", "video_source"),
    "sub_dimension": ("sub_dimension", "subdimension", "sub_category", "subcategory", "sub_task", "subtask"),
    "responses": ("responses", "response", "candidates", "outputs", "completions", "answers"),
    "ranking": ("ranking", "human_ranking", "rankings", "ranks", "rank"),
    "label": ("label", "preference", "winner", "better", "preferred", "choice", "gt"),
    "first": ("response_a", "response1", "response_1", "answer_a", "answer1", "answer_1", "output_a", "output_1"),
    "second": ("response_b", "response2", "response_2", "answer_b", "answer2", "answer_2", "output_b", "output_2"),
}
FIELD_MAP_KEYS = (*REQUIRED, *OPTIONAL_CANDIDATES)
# The paper's samples per dimension (arXiv 2509.00484, 1,563 in all); a different count is reported.
VRB_PAPER_COUNTS = {
    "long-form perception": 283,
    "short-form perception": 413,
    "knowledge": 238,
    "reasoning": 278,
    "safety": 351,
}
VRB_DIMENSIONS = {
    "longformperception": "long-form perception",
    "longperception": "long-form perception",
    "shortformperception": "short-form perception",
    "shortperception": "short-form perception",
    "knowledge": "knowledge",
    "reasoning": "reasoning",
    "safety": "safety",
}
PERCEPTION_SUBS = {"longform": "long-form perception", "long": "long-form perception",
                   "shortform": "short-form perception", "short": "short-form perception"}  # fmt: skip
LABEL = re.compile(r"(?:response|answer|output|option)?([ab12])")

Pair = Literal["direct", "label", "ranking"]


def parse_field_map(text: str | None) -> dict[str, str]:
    """`question=prompt,chosen=responses.0` -> {"question": "prompt", "chosen": "responses.0"}."""
    mapping = parse_pairs(text, "--field-map", "FIELD=COLUMN", "question=prompt")
    for key in mapping:
        if key not in FIELD_MAP_KEYS:
            raise DatasetError(f"--field-map: unknown field {key!r}; fields: {', '.join(FIELD_MAP_KEYS)}")
    return mapping


def _key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalpha())


def canonical_vrb_dimension(value: str) -> str | None:
    """'Long-Form Perception', 'long_perception' -> 'long-form perception'; None when not one of the five."""
    return VRB_DIMENSIONS.get(_key(value))


def parse_dim_map(text: str | None) -> dict[str, str]:
    """`--dim-map old=new,...`: keys as written in the file (any spelling; `perception/temporal` for a
    dimension with a sub-dimension), values one of the five dimensions."""
    return checked_dim_map(parse_pairs(text, "--dim-map", "OLD=NEW", "'Perception (long)=long-form perception'"))


def checked_dim_map(mapping: dict[str, str]) -> dict[str, str]:
    """The map with keys spelled as the loader compares them; a value not a dimension is an error."""
    checked: dict[str, str] = {}
    for old, new in mapping.items():
        target = canonical_vrb_dimension(new)
        if target is None:
            raise DatasetError(f"--dim-map: {new!r} is not a dimension; use one of: {', '.join(VRB_PAPER_COUNTS)}")
        checked[_key(old)] = target
    return checked


def vrb_dimension(raw: str, sub: str | None, dim_map: dict[str, str]) -> tuple[str | None, str]:
    """(one of the five or None, the name as the file spells it: `dim` or `dim/sub`)."""
    name = f"{raw}/{sub}" if sub else raw
    for candidate in (name, raw):
        if _key(candidate) in dim_map:
            return dim_map[_key(candidate)], name
    if (known := canonical_vrb_dimension(raw)) is not None:
        return known, name
    if _key(raw) == "perception" and sub:
        return PERCEPTION_SUBS.get(_key(sub).removesuffix("perception")), name
    return None, name


def unknown_dimensions_error(path: Path, unknown: Counter[str]) -> DatasetError:
    names = ", ".join(f"{name!r} ({count} rows)" for name, count in sorted(unknown.items()))
    return DatasetError(
        f"{path}: unknown dimension name(s) {names}; the dimensions are {', '.join(VRB_PAPER_COUNTS)}; "
        "map them with --dim-map OLD=NEW (e.g. --dim-map 'temporal=short-form perception')"
    )


@dataclass(frozen=True)
class Layout:
    """The column of each field and how the pair is found (see the module docstring)."""

    columns: dict[str, str]
    pair: Pair

    def fields(self) -> dict[str, str]:
        """Field -> where it comes from, as `bench` and `data check` print it."""
        shown = {k: v for k, v in self.columns.items() if k not in ("responses", "ranking", "label", "first", "second")}
        c = self.columns
        if self.pair == "ranking":
            shown |= {
                "chosen": f"{c['responses']}[best {c['ranking']}]",
                "rejected": f"{c['responses']}[worst {c['ranking']}]",
            }
        elif self.pair == "label":
            shown |= {"chosen": f"{c['first']}|{c['second']} named by {c['label']}",
                      "rejected": f"the other of {c['first']}|{c['second']}"}  # fmt: skip
        return shown


def choose_layout(rows: list[dict[str, Any]], field_map: dict[str, str], path: Path) -> Layout:
    """For each field, the user's mapping or the first candidate present in the first rows."""
    probe = rows[:20]

    def find(field: str, candidates: tuple[str, ...]) -> str | None:
        if field in field_map:
            return field_map[field]
        found = next((c for c in candidates if any(lookup(r, c) is not None for r in probe)), None)
        return None if found is None else _as_spelled(found, probe)

    found = {f: find(f, c) for f, c in {**VRB_CANDIDATES, **OPTIONAL_CANDIDATES}.items()}
    pair = _pair_layout(found, field_map)
    needed = [f for f in ("media", "question", "dimension", *_PAIR_FIELDS[pair]) if found[f] is None]
    if needed:
        field = needed[0]
        tried = VRB_CANDIDATES.get(field) or OPTIONAL_CANDIDATES[field]
        columns = sorted({str(k) for r in probe for k in r})
        raise DatasetError(
            f"{path}: no column found for {field!r} (tried {', '.join(tried)}); columns are "
            f"{', '.join(columns)}; pass --field-map {field}=COLUMN"
        )
    keep = {"id", "media", "question", "dimension", "source", "sub_dimension", *_PAIR_FIELDS[pair]}
    return Layout({f: c for f, c in found.items() if c is not None and f in keep}, pair)


def _as_spelled(column: str, rows: list[dict[str, Any]]) -> str:
    """The column's name as the file spells it (`Question` for the candidate `question`)."""
    return next((k for r in rows for k in r if isinstance(k, str) and k.casefold() == column.casefold()), column)


_PAIR_FIELDS: dict[Pair, tuple[str, ...]] = {
    "direct": ("chosen", "rejected"),
    "label": ("label", "first", "second"),
    "ranking": ("responses", "ranking"),
}


def _pair_layout(found: dict[str, str | None], field_map: dict[str, str]) -> Pair:
    """Direct when mapped so; else label or ranking when their columns are all there; else direct."""
    if {"chosen", "rejected"} & set(field_map):
        return "direct"
    for pair in ("label", "ranking"):
        if all(found[f] is not None for f in _PAIR_FIELDS[pair]):
            return pair
    return "direct"


def derive_pair(row: dict[str, Any], layout: Layout) -> tuple[Any, Any, str | None]:
    """(chosen, rejected, problem) of a row under its layout."""
    c = layout.columns
    if layout.pair == "direct":
        return lookup(row, c["chosen"]), lookup(row, c["rejected"]), None
    if layout.pair == "label":
        return _by_label(row, c)
    return _by_ranking(lookup(row, c["responses"]), lookup(row, c["ranking"]), c)


def _by_label(row: dict[str, Any], c: dict[str, str]) -> tuple[Any, Any, str | None]:
    first, second, label = lookup(row, c["first"]), lookup(row, c["second"]), lookup(row, c["label"])
    value = _norm(label)
    if value == _norm(c["first"]):
        return first, second, None
    if value == _norm(c["second"]):
        return second, first, None
    match = LABEL.fullmatch(value)
    if match is None:
        problem = (
            f"label {label!r} ({c['label']}) names neither {c['first']} nor {c['second']}; use A/B, 1/2 or a column"
        )
        return None, None, problem
    return (first, second, None) if match.group(1) in "a1" else (second, first, None)


def _norm(value: Any) -> str:
    return re.sub(r"[^a-z0-9]", "", str(value).lower())


def _by_ranking(responses: Any, ranking: Any, c: dict[str, str]) -> tuple[Any, Any, str | None]:
    where = f"{c['responses']} / {c['ranking']}"
    if not isinstance(responses, list) or not isinstance(ranking, list) or len(responses) != len(ranking):
        return None, None, f"{where}: need a list of responses and a ranking of the same length"
    try:
        ranks = [float(r) for r in ranking]
    except (TypeError, ValueError):
        return None, None, f"{where}: the ranking must hold numbers (lower is better)"
    if len(ranks) < 2 or min(ranks) == max(ranks):
        return None, None, f"{where}: the ranking has no better response (a tie, or fewer than 2)"
    return responses[ranks.index(min(ranks))], responses[ranks.index(max(ranks))], None


def template_fields(template: str) -> list[str]:
    """The column names a --question-template uses; a malformed template is an error."""
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise DatasetError(f"--question-template: {exc} (write fields as {{question}}, {{options}})") from None
    if not names or any(not n.isidentifier() for n in names):
        raise DatasetError("--question-template: name each field, e.g. '{question}\\nOptions: {options}'")
    return names


def render_question(template: str, row: dict[str, Any], question: Any) -> tuple[str | None, str | None]:
    """The template filled from the row (lists one item a line, dicts `key. value`), or the field missing."""
    values: dict[str, str] = {}
    for name in template_fields(template):
        value = question if name == "question" else lookup(row, name)
        if value is None or str(value).strip() == "":
            return None, f"missing or empty {name} (--question-template)"
        values[name] = _as_text(value)
    return template.replace("\\n", "\n").format_map(values), None


def _as_text(value: Any) -> str:
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if isinstance(value, dict):
        return "\n".join(f"{k}. {v}" for k, v in value.items())
    return str(value)
