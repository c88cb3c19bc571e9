"""Statistics over result CSVs: correlations, ranking metrics, partial correlation, bootstrap CIs.

Depends on core and storage only (never on engine or cli).
"""

from nasprox.stats.bootstrap import BootstrapMemo, bootstrap_ci, paired_bootstrap_ci, shared_cells
from nasprox.stats.correlation import (
    CORRELATIONS,
    correlate_top,
    finite_pairs,
    kendall_tau,
    parse_fraction,
    pearson_r,
    spearman_rho,
    top_count,
    top_fraction_mask,
)
from nasprox.stats.paired import PAIRED_COLUMNS, PAIRED_METRICS, paired_comparison_table, parse_pairs
from nasprox.stats.partial import partial_spearman
from nasprox.stats.population import POPULATIONS, Population, select_population
from nasprox.stats.ranking import (
    PairCounts,
    best_found_rank,
    concordance_counts,
    pair_counts,
    pairwise_order_probability,
    top_k_hit_rate,
    top_k_within,
    top_k_within_top_fraction,
    top_overlap,
)
from nasprox.stats.ranks import average_rank_table
from nasprox.stats.results import (
    REQUIRED_COLUMNS,
    ResultTable,
    default_target,
    load_results,
    lower_is_better,
    nan_reasons,
    parse_stand_ins,
    pivot_results,
    read_results,
    target_values,
    with_ground_truth,
)
from nasprox.stats.retrieval import ndcg_at_k, parse_t, precision_at_t
from nasprox.stats.summary import correlation_table, correlation_vs_top, search_metrics_table

__all__ = [
    "BootstrapMemo",
    "PAIRED_COLUMNS",
    "PAIRED_METRICS",
    "CORRELATIONS",
    "REQUIRED_COLUMNS",
    "ResultTable",
    "average_rank_table",
    "best_found_rank",
    "bootstrap_ci",
    "concordance_counts",
    "correlate_top",
    "correlation_table",
    "correlation_vs_top",
    "default_target",
    "finite_pairs",
    "kendall_tau",
    "load_results",
    "nan_reasons",
    "parse_stand_ins",
    "lower_is_better",
    "pair_counts",
    "paired_bootstrap_ci",
    "paired_comparison_table",
    "parse_pairs",
    "pairwise_order_probability",
    "parse_fraction",
    "partial_spearman",
    "pearson_r",
    "pivot_results",
    "read_results",
    "search_metrics_table",
    "spearman_rho",
    "target_values",
    "top_count",
    "top_fraction_mask",
    "top_k_hit_rate",
    "top_k_within",
    "top_k_within_top_fraction",
    "top_overlap",
    "with_ground_truth",
    "POPULATIONS",
    "PairCounts",
    "Population",
    "ndcg_at_k",
    "parse_t",
    "precision_at_t",
    "select_population",
    "shared_cells",
]
