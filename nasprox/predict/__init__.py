"""Combining proxies: label-free rank ensembles and learned predictors with a few labelled archs.

Same layer as ``stats``, ``report`` and ``search``: reads result CSVs through ``nasprox.stats``,
finds spaces and proxy metadata through the registry (``nasprox.core.SPACES`` / ``PROXIES``) and
never imports a proxy module. scikit-learn is imported only by ``learn`` when a model is built.

- ``aggregate``: rank-mean, geo-mean, log-rank (AZ-NAS), Borda, greedy subset selection.
- ``ensemble``: aggregates as pseudo-proxy rows of the result schema (``nasprox ensemble``).
- ``features``: proxy values + ``SearchSpace.arch_features`` as a feature matrix.
- ``learn``: seeded splits, fit on N labelled archs, held-out metrics (``nasprox predict``).
"""

from nasprox.predict.aggregate import METHODS, aggregate, borda, geo_mean, greedy_select, log_rank, rank_mean, ranks

__all__ = ["METHODS", "aggregate", "borda", "geo_mean", "greedy_select", "log_rank", "rank_mean", "ranks"]
