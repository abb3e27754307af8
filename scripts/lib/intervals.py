"""Statistics the comparison scripts share with isobench (internal/stats.MedianInterval)."""
import math


def median_interval(xs, level=0.95):
    """Distribution-free interval [x(j), x(n+1-j)] of the median with the largest j whose
    Binomial(n, 1/2) coverage is at least level; None when n is too small."""
    xs, n, best, cdf = sorted(xs), len(xs), None, 0.0
    for j in range(1, (n + 1) // 2 + 1):
        cdf += math.comb(n, j - 1) / 2 ** n
        cover = 1 - 2 * cdf
        if cover < level:
            break
        best = (xs[j - 1], xs[n - j], cover)
    return best
