#!/usr/bin/python3
"""Writes reference.json: statistics of fixed inputs computed independently with numpy
and scipy, for stats_test.go. Run: /usr/bin/python3 gen_reference.py > reference.json
(Debian: apt-get install python3-numpy python3-scipy)."""
import json
import numpy as np
from scipy import stats

inputs = {
    "small_odd": [12.1, 11.9, 12.4, 13.0, 11.7, 12.2, 12.0],
    "small_even": [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0],
    "skewed": [float(x) for x in np.round(np.random.default_rng(7).lognormal(3, 0.5, 101), 4)],
    "single": [42.0],
}
summaries = {}
for name, xs in inputs.items():
    a = np.array(xs)
    summaries[name] = {
        "input": xs,
        "n": len(a),
        "mean": float(np.mean(a)),
        "median": float(np.median(a)),
        "stddev": float(np.std(a, ddof=1)) if len(a) > 1 else 0.0,
        "min": float(np.min(a)),
        "max": float(np.max(a)),
        "p5": float(np.percentile(a, 5, method="linear")),
        "p95": float(np.percentile(a, 95, method="linear")),
        "p99": float(np.percentile(a, 99, method="linear")),
    }

mw_cases = {
    "exact_separated": ([1, 2, 3, 4, 5], [6, 7, 8, 9, 10], "exact"),
    "exact_overlap": ([1.1, 2.3, 3.2, 4.8, 5.5, 7.1], [2.9, 4.1, 6.0, 6.6, 8.2, 9.4, 9.9], "exact"),
    "ties_asymptotic": ([1, 2, 2, 3, 3, 3, 4], [3, 4, 4, 5, 5, 6, 6, 7], "asymptotic"),
    "large_asymptotic": ([float(x) for x in np.round(np.random.default_rng(3).normal(100, 5, 40), 3)],
                         [float(x) for x in np.round(np.random.default_rng(4).normal(103, 5, 45), 3)], "asymptotic"),
}
mw = {}
for name, (x, y, method) in mw_cases.items():
    r = stats.mannwhitneyu(x, y, alternative="two-sided", method=method, use_continuity=True)
    mw[name] = {"x": x, "y": y, "method": method, "u": float(r.statistic), "p": float(r.pvalue)}

print(json.dumps({"percentile_method": "numpy linear (R type 7)", "summaries": summaries,
                  "mann_whitney": mw}, indent=1))
