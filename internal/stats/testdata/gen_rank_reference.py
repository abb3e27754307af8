#!/usr/bin/python3
"""Writes rank_reference.json: rank tests, Hodges-Lehmann shifts and median intervals
of fixed inputs, computed independently of isobench's Go code for rank_test.go:
p-values by scipy's exhaustive permutation_test (every arrangement enumerated) and
scipy.stats.mannwhitneyu, interval positions by enumerating every arrangement in
Python and coverages by scipy.stats.binom. When R is installed (r-base-core), the
exact Hodges-Lehmann intervals are also checked against wilcox.test(conf.int=TRUE).
Run: /usr/bin/python3 gen_rank_reference.py > rank_reference.json
(Debian: apt-get install python3-numpy python3-scipy [r-base-core])."""
import itertools
import json
import shutil
import subprocess
import numpy as np
from scipy import stats

LEVEL = 0.95
rng = np.random.default_rng(12)


def mw_exact_p(x, y):
    pooled = np.concatenate([x, y])
    # midrank of each distinct value in the pooled sample
    rank_of = {v: r for v, r in zip(pooled, stats.rankdata(pooled))}
    n2 = len(y)

    def u_of_y(a, b, axis=-1):
        rb = np.vectorize(lambda v: rank_of[v])(b)
        return rb.sum(axis=axis) - n2 * (n2 + 1) / 2

    if len(x) < 2 or len(y) < 2:  # scipy refuses; enumerate every arrangement here
        obs = float(u_of_y(x, y))
        null = [float(u_of_y(None, pooled[list(c)])) for c in itertools.combinations(range(len(pooled)), n2)]
        le = sum(1 for v in null if v <= obs + 1e-9) / len(null)
        ge = sum(1 for v in null if v >= obs - 1e-9) / len(null)
        return obs, min(1.0, 2 * min(le, ge))
    res = stats.permutation_test((x, y), u_of_y, permutation_type="independent",
                                 n_resamples=np.inf, alternative="two-sided", vectorized=True)
    return float(u_of_y(x, y)), float(res.pvalue)


def w_plus(d):
    d = np.asarray(d, dtype=float)
    nz = d[d != 0]
    if len(nz) == 0:
        return 0.0
    r = stats.rankdata(np.abs(nz))
    return float(r[nz > 0].sum())


def signed_rank_exact_p(d):
    d = np.asarray(d, dtype=float)
    x, y = np.zeros_like(d), d

    def stat(a, b):
        return w_plus(b - a)

    res = stats.permutation_test((x, y), stat, permutation_type="samples",
                                 n_resamples=np.inf, alternative="two-sided")
    return w_plus(d), float(res.pvalue)


def r_quantile_position(dist_counts, level):
    """R's qu: smallest q with P(W <= q) >= alpha/2; coverage 1 - 2 P(W <= q-1).
    When q is 0 no interval reaches the level; the coverage is then that of the widest
    interval [D(1), D(total)], 1 - 2 P(W <= 0)."""
    total = sum(dist_counts.values())
    half = (1 - level) / 2
    cdf, q = 0.0, 0
    while True:
        c = cdf + dist_counts.get(q, 0) / total
        if c >= half:
            if q == 0:
                return q, 1 - 2 * c
            return q, 1 - 2 * cdf
        cdf, q = c, q + 1


def u_distribution(m, n):
    counts = {}
    for xs in itertools.combinations(range(m + n), m):
        xset = set(xs)
        # U of y: pairs where y (positions not in xs) is above x
        u = sum(1 for j in range(m + n) if j not in xset for i in xs if j > i)
        counts[u] = counts.get(u, 0) + 1
    return counts


def w_distribution(n):
    counts = {}
    for signs in itertools.product([0, 1], repeat=n):
        w = sum(r + 1 for r, s in enumerate(signs) if s)
        counts[w] = counts.get(w, 0) + 1
    return counts


def hl_two_sample(x, y):
    diffs = np.sort(np.subtract.outer(np.asarray(y, float), np.asarray(x, float)).ravel())
    m, n = len(x), len(y)
    q, cov = r_quantile_position(u_distribution(m, n), LEVEL)
    out = {"estimate": float(np.median(diffs)), "coverage": cov, "ok": q >= 1}
    if q >= 1:
        out["lo"], out["hi"] = float(diffs[q - 1]), float(diffs[m * n - q])
    return out


def hl_paired(d):
    d = np.asarray(d, float)
    n = len(d)
    walsh = np.sort([(d[i] + d[j]) / 2 for i in range(n) for j in range(i, n)])
    q, cov = r_quantile_position(w_distribution(n), LEVEL)
    out = {"estimate": float(np.median(walsh)), "coverage": cov, "ok": q >= 1}
    if q >= 1:
        out["lo"], out["hi"] = float(walsh[q - 1]), float(walsh[len(walsh) - q])
    return out


def r_wilcox(x, y=None):
    if shutil.which("Rscript") is None:
        return None
    vec = lambda v: "c(" + ",".join(repr(float(a)) for a in v) + ")"
    call = f"wilcox.test({vec(y)}, {vec(x)}, conf.int=TRUE, exact=TRUE)" if y is not None \
        else f"wilcox.test({vec(x)}, conf.int=TRUE, exact=TRUE)"
    out = subprocess.run(["Rscript", "-e", f"r <- {call}; cat(sprintf('%.17g', c(r$estimate, r$conf.int)))"],
                         capture_output=True, text=True, check=True).stdout.split()
    return [float(v) for v in out]


def ints(n, lo, hi):
    return [float(v) for v in rng.integers(lo, hi, n)]


def reals(n, mu, sd):
    return [float(v) for v in np.round(rng.normal(mu, sd, n), 3)]


# Two-sample cases: old x, new y.
two = {
    "why_all_tied_n3": ([100.0] * 3, [110.0] * 3),
    "why_tie_only_change": ([10.0] * 10, [10.0] * 6 + [11.0] * 4),
    "all_equal": ([5.0] * 6, [5.0] * 6),
    "n1_each": ([3.0], [4.0]),
    "heavy_ties": ([1.0, 1, 1, 2, 2, 3, 3, 3], [2.0, 2, 3, 3, 3, 3, 4, 4]),
    "timer_resolution": ([1.0, 1, 2, 1, 2, 1, 1], [2.0, 2, 1, 2, 3, 2, 2]),
}
for n in range(2, 13):
    two[f"ties_n{n}"] = (ints(n, 0, 4), ints(n, 1, 5))
for n in (2, 3, 5, 8, 10):
    two[f"distinct_n{n}"] = (reals(n, 100, 5), reals(n, 104, 5))
two["unequal_4_9"] = (reals(4, 50, 2), reals(9, 51, 2))

mann_whitney, hodges_lehmann = {}, {}
for name, (x, y) in two.items():
    u, p = mw_exact_p(np.array(x), np.array(y))
    case = {"x": x, "y": y, "u": u, "p": p}
    if len(set(x + y)) == len(x + y):
        case["scipy_exact_p"] = float(stats.mannwhitneyu(y, x, alternative="two-sided", method="exact").pvalue)
    mann_whitney[name] = case
    if len(x) + len(y) <= 20:
        h = hl_two_sample(x, y)
        h.update({"x": x, "y": y})
        r = r_wilcox(x, y) if len(set(x + y)) == len(x + y) else None
        if r is not None:
            assert abs(r[0] - h["estimate"]) < 1e-9, (name, r, h)
            if h["ok"]:
                assert abs(r[1] - h["lo"]) < 1e-9 and abs(r[2] - h["hi"]) < 1e-9, (name, r, h)
            h["checked_with_r"] = True
        hodges_lehmann[name] = h

paired = {
    "zeros_and_ties": [0.0, 1, 1, -1, 2, 2, 0, 3],
    "all_zero": [0.0] * 5,
    "all_positive_n5": [1.0, 2, 3, 4, 5],
    "heavy_ties_n10": [1.0, 1, 1, -1, 1, 2, 1, 1, -2, 1],
}
for n in (3, 6, 9, 12):
    paired[f"distinct_n{n}"] = reals(n, 1, 2)
for n in (7, 11):
    paired[f"ties_n{n}"] = ints(n, -2, 4)
signed_rank, paired_hl = {}, {}
for name, d in paired.items():
    w, p = signed_rank_exact_p(d)
    signed_rank[name] = {"d": d, "w": w, "p": p}
    h = hl_paired(d)
    h["d"] = d
    if len(set(np.abs(d))) == len(d) and 0 not in d:
        r = r_wilcox(d)
        if r is not None:
            assert abs(r[0] - h["estimate"]) < 1e-9, (name, r, h)
            if h["ok"]:
                assert abs(r[1] - h["lo"]) < 1e-9 and abs(r[2] - h["hi"]) < 1e-9, (name, r, h)
            h["checked_with_r"] = True
    paired_hl[name] = h

median_intervals = {}
for n in list(range(1, 13)) + [20, 50, 100, 1000, 100000]:
    # Largest l with coverage P(l <= B <= n-l) >= LEVEL, B ~ Bin(n, 1/2).
    best = None
    for l in range(1, (n + 1) // 2 + 1):
        cov = float(stats.binom.cdf(n - l, n, 0.5) - stats.binom.cdf(l - 1, n, 0.5))
        if cov >= LEVEL - 1e-12:
            best = (l, cov)
        else:
            break
    widest = float(1 - 2 * 0.5 ** n)
    median_intervals[str(n)] = {"n": n, "ok": best is not None,
                                "lo_rank": best[0] if best else 0,
                                "hi_rank": n + 1 - best[0] if best else 0,
                                "coverage": best[1] if best else widest}

print(json.dumps({"level": LEVEL, "mann_whitney": mann_whitney, "hodges_lehmann": hodges_lehmann,
                  "signed_rank": signed_rank, "paired_hodges_lehmann": paired_hl,
                  "median_intervals": median_intervals}, indent=1, sort_keys=True))
