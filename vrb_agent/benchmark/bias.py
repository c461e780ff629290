"""The bias panel of a condition: does the judge prefer whatever is shown first, does its verdict
change when the pair is shown the other way round, and does it favour the longer response.

Every figure is a share over judgments, each judgment weighing once (with k draws, a judgment's
first-slot share is the share of its valid draws that picked the response shown first), with a
95 % bootstrap CI over judgments:
- first-slot rate: picks of the first-shown response; 50 % is no position preference.
- order-flip rate: among draw pairs that saw the pair both ways round (`--order both`, or k > 1,
  whose draws alternate), the share whose verdicts differ.
- order agreement: the judge's own `order_agreement` (majority shown straight = majority swapped).
- order-consistent accuracy: accuracy on the judgments whose verdict agreed across orders.
- length slope: a logistic fit of being right on (chosen − rejected) characters, per 100 characters;
  a judge that favours long answers is right more often when the chosen one is longer (slope > 0).
Lines written before records held `shown_first` count for the first-slot rate only where the order
is certain (k = 1, fixed order, the vrb-agent protocol: the sample's A was shown first).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from vrb_agent.benchmark.metrics import Record, bootstrap_ci, score
from vrb_agent.benchmark.resample import bootstrap_stat_ci
from vrb_agent.benchmark.summary import BiasGroup, BiasPanel, Condition, LengthBin, LengthSlope, Rate

LENGTH_BINS = 5  # quantile bins of the length difference
PER_CHARS = 100.0  # the slope's unit: log-odds per this many characters
NEWTON_STEPS = 40
CONVERGED = 1e-7
DIVERGED = 30.0  # a slope past this many log-odds per standard deviation: separated data, no maximum
Draw = tuple[str, str | None]  # (the sample's response shown first, the vote in sample terms or None)


def draws(record: Record) -> list[Draw]:
    """Each draw's first-shown response and vote; [] where the order is not known."""
    votes = list(record.get("votes") or [])
    shown = record.get("shown_first") or []
    if shown and len(shown) == len(votes):
        return list(zip(shown, votes, strict=True))
    if shown or record.get("status") == "error":
        return []
    fixed = record.get("order", "fixed") == "fixed" and record.get("protocol", "vrb-agent") == "vrb-agent"
    if fixed and int(record.get("k") or 1) == 1:  # other protocols turn a fixed order into a seeded random one
        return [("A", votes[0] if votes else record.get("preferred"))]
    return []


def first_slot_share(record: Record) -> float | None:
    """The share of the record's valid draws that picked the response shown first."""
    valid = [shown == vote for shown, vote in draws(record) if vote is not None]
    return sum(valid) / len(valid) if valid else None


def flip_share(record: Record) -> float | None:
    """Among consecutive draw pairs shown in opposite orders with both votes valid, the share that differ."""
    pairs = draws(record)
    flips = [
        first[1] != second[1]
        for first, second in zip(pairs[::2], pairs[1::2], strict=False)
        if first[0] != second[0] and first[1] is not None and second[1] is not None
    ]
    return sum(flips) / len(flips) if flips else None


def rate(values: Sequence[float], n_boot: int, seed: int) -> Rate:
    ci = bootstrap_ci(values, n_boot=n_boot, seed=seed)
    return Rate(n=len(values), rate=sum(values) / len(values) if values else None, ci=list(ci) if ci else None)


def _newton(z: np.ndarray, y: np.ndarray, start: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """Slope of a logistic regression of y on z for each row (rows fitted at once, from `start`);
    NaN where the likelihood has no finite maximum (z constant, y all 0 or all 1, separated data).
    z should be standardized: then Newton's steps are well scaled and DIVERGED means separation."""
    a, b = np.full(z.shape[0], start[0]), np.full(z.shape[0], start[1])
    steps = np.full(z.shape[0], np.inf)
    with np.errstate(all="ignore"):
        for _ in range(NEWTON_STEPS):
            p = 1.0 / (1.0 + np.exp(-np.clip(a[:, None] + b[:, None] * z, -30, 30)))
            w, r = p * (1 - p), y - p
            wz = w * z
            ga, gb = r.sum(1), np.einsum("ij,ij->i", r, z)
            haa, hab, hbb = w.sum(1), wz.sum(1), np.einsum("ij,ij->i", wz, z)
            det = haa * hbb - hab**2
            da, db = (hbb * ga - hab * gb) / det, (haa * gb - hab * ga) / det
            a, b = a + da, b + db
            steps = np.maximum(np.abs(da), np.abs(db))
            if ((steps < CONVERGED) | (np.abs(b) > DIVERGED) | ~np.isfinite(steps)).all():
                break
    return np.where((steps < CONVERGED) & (np.abs(b) <= DIVERGED), b, np.nan)


def logistic_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The logistic slope of y on x (in x's units) for each row; rows are samples of one population,
    standardized by the spread of all of x. NaN where no finite fit exists."""
    spread = float(x.std())
    if spread == 0:
        return np.full(x.shape[0], np.nan)
    return _newton((x - x.mean()) / spread, y) / spread


def length_slope(rows: Sequence[tuple[float, float]], n_boot: int, seed: int) -> LengthSlope:
    """Logistic slope of score on length difference (per 100 characters), with a bootstrap CI whose
    resamples start from the sample's own fit (they lie near it, so Newton needs few steps)."""
    if not rows:
        return LengthSlope()
    x = np.array([d for d, _ in rows]) / PER_CHARS
    y = np.array([s for _, s in rows])
    slope = float(logistic_slopes(x[None, :], y[None, :])[0])
    if not np.isfinite(slope):
        return LengthSlope(n=len(rows))
    spread = float(x.std())
    z = (x - x.mean()) / spread
    intercept = float(np.log(y.mean() / (1 - y.mean()))) if 0 < y.mean() < 1 else 0.0
    start = (intercept, slope * spread)

    def resampled(idx: np.ndarray) -> np.ndarray:
        return _newton(z[idx], y[idx], start) / spread

    return LengthSlope(n=len(rows), slope=slope, ci=bootstrap_stat_ci(len(rows), resampled, n_boot=n_boot, seed=seed))


def scored_lengths(records: Sequence[Record], policy: str) -> list[tuple[float, float]]:
    """(chosen − rejected characters, score) of each scored record that knows both lengths."""
    rows = []
    for record in records:
        s = score(record, policy)
        if s is not None and record.get("chosen_chars") is not None and record.get("rejected_chars") is not None:
            rows.append((float(record["chosen_chars"]) - float(record["rejected_chars"]), s))
    return rows


def _bin_label(lo: float, hi: float) -> str:
    return f"{lo:+.0f}" if lo == hi else f"{lo:+.0f} to {hi:+.0f}"


def length_bins(rows: Sequence[tuple[float, float]], n_boot: int, seed: int) -> list[LengthBin]:
    """Accuracy by quantile bin of the length difference (equal differences always share a bin),
    each labelled by the differences it holds and plotted at their mean."""
    if not rows:
        return []
    diffs = np.array([d for d, _ in rows])
    inner = np.unique(np.quantile(diffs, np.linspace(0, 1, LENGTH_BINS + 1)[1:-1]))
    where = np.searchsorted(inner, diffs, side="right")
    out = []
    for index in sorted(set(where.tolist())):
        members = [rows[int(i)] for i in np.flatnonzero(where == index)]
        scores = [s for _, s in members]
        ci = bootstrap_ci(scores, n_boot=n_boot, seed=seed)
        lo, hi = min(d for d, _ in members), max(d for d, _ in members)
        out.append(
            LengthBin(
                chars=_bin_label(lo, hi),
                n=len(members),
                accuracy=sum(scores) / len(scores),
                ci=list(ci) if ci else None,
                mean_difference=sum(d for d, _ in members) / len(members),
            )
        )
    return out


def _present(values: Sequence[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def bias_group(records: Sequence[Record], policy: str, n_boot: int, seed: int) -> BiasGroup:
    """Every bias figure of one group of records."""
    agreement = [r.get("order_agreement") for r in records]
    consistent = [score(r, policy) for r in records if r.get("order_agreement") is True]
    return BiasGroup(
        first_slot=rate(_present([first_slot_share(r) for r in records]), n_boot, seed),
        order_flip=rate(_present([flip_share(r) for r in records]), n_boot, seed),
        order_agreement=rate([1.0 if a else 0.0 for a in agreement if a is not None], n_boot, seed),
        consistent_accuracy=rate(_present(consistent), n_boot, seed),
        length_slope=length_slope(scored_lengths(records, policy), n_boot, seed),
    )


def bias_panel(condition: Condition, records: Sequence[Record], policy: str, *, n_boot: int, seed: int) -> BiasPanel:
    """The bias panel of one condition's records: overall, per dimension, and accuracy by length bin."""
    by_dim: dict[str, list[Record]] = defaultdict(list)
    for record in records:
        by_dim[str(record["dimension"])].append(record)
    return BiasPanel(
        **condition.model_dump(),
        overall=bias_group(records, policy, n_boot, seed),
        by_dimension={dim: bias_group(by_dim[dim], policy, n_boot, seed) for dim in sorted(by_dim)},
        length_bins=length_bins(scored_lengths(records, policy), n_boot, seed),
    )
