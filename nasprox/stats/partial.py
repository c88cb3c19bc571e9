"""Partial rank correlation between two proxies given accuracy (T-CET paper, Eq. 1).

With Spearman correlations r_12 (proxy 1 vs proxy 2), r_1a and r_2a (each proxy vs accuracy):

    r_12|a = (r_12 - r_1a * r_2a) / sqrt((1 - r_1a^2) * (1 - r_2a^2))

It is the Pearson correlation of the residuals left after regressing the ranks of each proxy on
the ranks of accuracy, i.e. how much the two proxies agree beyond what accuracy explains (a low
value means they carry complementary information). Only rows where all three are finite are used.
"""

from __future__ import annotations

import math

import numpy as np

from nasprox.stats.correlation import spearman_rho


def partial_spearman(proxy_a, proxy_b, accuracy) -> float:
    a = np.asarray(proxy_a, dtype=float).ravel()
    b = np.asarray(proxy_b, dtype=float).ravel()
    acc = np.asarray(accuracy, dtype=float).ravel()
    keep = np.isfinite(a) & np.isfinite(b) & np.isfinite(acc)
    a, b, acc = a[keep], b[keep], acc[keep]
    r_ab, r_a_acc, r_b_acc = spearman_rho(a, b), spearman_rho(a, acc), spearman_rho(b, acc)
    denominator = (1 - r_a_acc**2) * (1 - r_b_acc**2)
    if not all(map(math.isfinite, (r_ab, r_a_acc, r_b_acc))) or denominator <= 0:
        return math.nan
    return (r_ab - r_a_acc * r_b_acc) / math.sqrt(denominator)
