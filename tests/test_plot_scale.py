"""Score-vs-accuracy scatters choose their x scale by the data, so huge score ranges stay readable."""

from __future__ import annotations

import numpy as np
import pytest

from nasprox.report import plots
from nasprox.report.plots import scatter_score_vs_target, score_axis_scale


@pytest.fixture
def drawn(monkeypatch):
    """Draw a scatter and return its axes (saving is replaced by capturing the figure)."""
    captured = {}

    def capture(fig, stem):
        fig.canvas.draw()
        captured["ax"] = fig.axes[0]
        return []

    monkeypatch.setattr(plots, "_save", capture)

    def draw(score, tmp_path):
        gt = np.linspace(10, 94, len(score))
        scatter_score_vs_target(score, gt, None, title="t", target_label="test_acc", stem=tmp_path / "s")
        return captured["ax"]

    return draw


def labelled_ticks(ax):
    lo, hi = sorted(ax.get_xlim())
    return [t for t in ax.xaxis.get_major_locator()() if lo <= t <= hi]


def test_synflow_like_scores_get_a_symlog_axis_with_few_ticks(drawn, tmp_path):
    rng = np.random.default_rng(0)
    score = np.concatenate([[0.0, np.nan], 10.0 ** rng.uniform(3, 45, 98)])  # one dead cell, up to 1e45
    ax = drawn(score, tmp_path)
    assert ax.get_xscale() == "symlog"
    ticks = labelled_ticks(ax)
    assert 3 <= len(ticks) <= plots.MAX_TICKS and 0.0 in ticks


def test_positive_scores_over_many_decades_get_a_log_axis(drawn, tmp_path):
    score = 10.0 ** np.linspace(-4, 2, 50)  # e.g. fisher / meco
    ax = drawn(score, tmp_path)
    assert ax.get_xscale() == "log"
    assert len(labelled_ticks(ax)) <= plots.MAX_TICKS + 1


@pytest.mark.parametrize(
    "score",
    [
        np.linspace(10, 7000, 50),
        np.linspace(-3200, -60, 50),
        1e8 + np.linspace(0, 5e5, 50),
        np.r_[0.0, np.linspace(1, 500, 49)],
    ],
)
def test_narrow_ranges_stay_linear(drawn, tmp_path, score):
    ax = drawn(score, tmp_path)
    assert ax.get_xscale() == "linear"
    assert len(labelled_ticks(ax)) <= plots.MAX_TICKS


def test_scale_choice_ignores_nonfinite_values():
    assert score_axis_scale([np.nan, np.inf, -np.inf]) == "linear"
    assert score_axis_scale([1.0, np.nan, 1e9, -np.inf]) == "log"
    assert score_axis_scale([-1e9, -1.0, 5.0]) == "symlog"
