"""Feature matrices for learned predictors: proxy values plus the space's cheap architecture features.

Proxy columns are the proxy values of the result table through sign(x) * log(1 + |x|) (monotone,
so tree models split the same way; it keeps values such as synflow's 1e40 inside float32), failed
rows and infinities NaN (the model's imputer, fitted on the training rows only, fills them). Architecture columns come from the space
through the registry (``SearchSpace.arch_features``; NB201: GRAF-style op / path / depth counts),
prefixed ``arch:``. Nothing here reads ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nasprox.core import SPACES, ArchRef, NasproxError, RegistryError


@dataclass(frozen=True)
class Features:
    X: np.ndarray  # rows x features (float, NaN allowed in proxy columns)
    names: tuple[str, ...]
    n_proxy: int  # the first n_proxy columns are proxies, the rest architecture features


def space_instance(name: str):
    try:
        entry = SPACES.get(name)
    except RegistryError:
        return None
    return entry() if isinstance(entry, type) else entry


def arch_feature_frame(space: str, archs, indices) -> pd.DataFrame:
    """One row per architecture of the space's ``arch_features`` (empty columns when it has none)."""
    sp = space_instance(space)
    if sp is None:
        return pd.DataFrame(index=range(len(archs)))
    rows = []
    for key, index in zip(archs, indices):
        ref = ArchRef(space, int(index), str(key))
        rows.append(dict(sp.arch_features(ref)))
    frame = pd.DataFrame(rows)
    return frame.add_prefix("arch:")


def build_features(sub: pd.DataFrame, space: str, proxies, *, arch_features: bool = True) -> Features:
    """Features of the rows of one (space, dataset) wide table ``sub`` (see module doc)."""
    proxies = list(proxies)
    missing = [p for p in proxies if p not in sub.columns]
    if missing:
        raise NasproxError(f"no values for proxy {', '.join(missing)} in {space}")
    values = sub[proxies].astype(float).reset_index(drop=True)
    # signed log: monotone (tree models split the same way) and keeps synflow-size values (1e40) within
    # float32, which scikit-learn's trees use; infinities become missing
    values = np.sign(values) * np.log1p(np.abs(values.where(np.isfinite(values))))
    parts = [values]
    if arch_features:
        parts.append(arch_feature_frame(space, sub["arch"].tolist(), sub["arch_index"].tolist()))
    frame = pd.concat(parts, axis=1)
    if frame.shape[1] == 0:
        raise NasproxError(f"no features for {space}: no proxies chosen and the space offers no architecture features")
    return Features(frame.to_numpy(dtype=float), tuple(frame.columns), len(proxies))
