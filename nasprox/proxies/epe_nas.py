"""epe_nas: class-wise input-Jacobian correlation score (PROXY_SPEC §3.2, NASLib ``epe_nas``).

Rows of J (as in jacob_cov) are grouped by true label in order of first appearance; per class c,
s_c = Σ log(|corrcoef(J_c)| + 1e-5). If the output width K ≤ 100: Σ_c |s_c|; otherwise
s_c /= n_c and Σ_c Σ_c' |s_c − s_c'| / (#classes). A single-sample class has corrcoef = 1
(s_c = log(1 + 1e-5)); in the K > 100 branch the reference's division fails and skips it, which we
reproduce. Labels are used only for grouping; classification targets (one label per sample) only.
"""

from __future__ import annotations

import math

import numpy as np

from nasprox.core import ProxyContext, ProxyUndefined, proxy
from nasprox.proxies.jacob_cov import input_jacobian

OFFSET = 1e-5


def class_scores(jacobian: np.ndarray, labels: np.ndarray, num_outputs: int) -> float:
    per_class: dict[int, float] = {}
    with np.errstate(all="ignore"):
        for label in dict.fromkeys(labels.tolist()):  # first-appearance order, as the reference's dict
            rows = jacobian[labels == label]
            if rows.shape[0] == 1:
                if num_outputs > 100:
                    continue  # len() of the 0-d corrcoef raises in the reference: class skipped
                per_class[label] = math.log(1.0 + OFFSET)
                continue
            s = float(np.sum(np.log(np.abs(np.corrcoef(rows)) + OFFSET)))
            per_class[label] = s / rows.shape[0] if num_outputs > 100 else s
    values = list(per_class.values())
    if num_outputs <= 100:
        return float(sum(abs(v) for v in values))
    if not values:
        return 0.0
    return float(sum(abs(a - b) for a in values for b in values) / len(values))


@proxy(
    "epe_nas",
    "Per-class correlation of input Jacobians (Lopes et al. 2021, NASLib version)",
    version="1",
    higher_is_better=True,
    needs_labels=True,
    needs_gradients=True,
    needs_real_data=True,
    bn="kept",
    cost="backward",
)
def epe_nas(ctx: ProxyContext) -> float:
    if ctx.input_spec.task != "classification" or ctx.targets.dim() != 1:
        raise ProxyUndefined("epe_nas groups samples by class label; it needs one class label per sample")
    jacobian, num_outputs = input_jacobian(ctx)
    labels = ctx.targets.detach().cpu().numpy()
    return class_scores(jacobian, labels, num_outputs)
