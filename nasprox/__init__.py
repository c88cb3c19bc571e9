"""nasprox: a benchmark harness for zero-cost NAS proxies.

Python API (see ``nasprox.api``): ``nasprox.score_model(model, inputs, targets, proxies=[...])`` and
``nasprox.score_space(space, proxies, ...)``. Imported lazily, so ``import nasprox`` loads no torch.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["score_model", "score_space", "__version__"]


def __getattr__(name: str) -> Any:
    if name in ("score_model", "score_space"):
        from nasprox import api

        return getattr(api, name)
    raise AttributeError(f"module 'nasprox' has no attribute {name!r}")
