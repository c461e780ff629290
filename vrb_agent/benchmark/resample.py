"""Bootstrap CIs of statistics that are not means (a fitted slope, an ECE, a selective accuracy):
the statistic is computed for many resamples at once from their index matrix. Means use
`metrics.bootstrap_ci`, which this complements."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MAX_CELLS = 2_000_000  # indices drawn per chunk of resamples: bounds memory whatever the sample size
MIN_DEFINED = 0.95  # a CI is given only when the statistic is defined on this share of resamples

Statistic = Callable[[np.ndarray], np.ndarray]  # (resamples × n) indices -> value(s) per resample


def bootstrap_stat_ci(
    n: int, statistic: Statistic, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> list[float] | None:
    """Percentile bootstrap CI of `statistic` over `n` units resampled with replacement. NaN marks a
    resample where the statistic is undefined (a fit that diverges); the CI is None when n is 0 or
    the statistic is undefined on more than 5 % of resamples, since dropping them would narrow it."""
    return bootstrap_stat_cis(n, lambda idx: statistic(idx)[:, None], n_boot=n_boot, seed=seed, level=level)[0]


def bootstrap_stat_cis(
    n: int, statistic: Statistic, *, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> list[list[float] | None]:
    """`bootstrap_stat_ci` for a statistic with several values per resample (rows: resamples, one
    column per value, e.g. accuracy at each coverage): one CI per column, from the same resamples."""
    if n == 0:
        return [None]
    rng = np.random.default_rng(seed)
    rows = max(1, MAX_CELLS // n)
    stats = np.concatenate(
        [statistic(rng.integers(0, n, size=(min(rows, n_boot - start), n))) for start in range(0, n_boot, rows)]
    )
    alpha = (1 - level) / 2
    cis: list[list[float] | None] = []
    for column in stats.T:
        defined = column[np.isfinite(column)]
        if defined.size < MIN_DEFINED * n_boot:
            cis.append(None)
        else:
            lo, hi = np.quantile(defined, [alpha, 1 - alpha])
            cis.append([float(lo), float(hi)])
    return cis
