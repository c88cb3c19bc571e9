"""``nasprox report --html``: one self-contained page, checked as a person sees it in headless Chromium.

The page is built from two committed result CSVs (fast). The browser checks need a Chromium binary
(``apt-get install chromium``); they skip, saying so, where there is none.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from nasprox.cli import app
from nasprox.report import write_report
from nasprox.report.published import VERDICTS
from nasprox.stats import load_results

ROOT = Path(__file__).resolve().parents[1]
INPUTS = [
    ROOT / "results" / "cpu_subset" / "near_table1" / "nats-tss_cifar10.csv",  # 100 cells, 11 proxies
    ROOT / "results" / "reproduction" / "transnas-micro_jigsaw.csv",  # 1,000 cells, params and flops
]
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell")


def find_browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


needs_browser = pytest.mark.skipif(
    find_browser() is None,
    reason="no Chromium binary on PATH (tried: " + ", ".join(BROWSERS) + "); `apt-get install chromium` to run",
)


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """A report folder with report.html, over the committed CSVs; small bootstraps."""
    missing = [str(p) for p in INPUTS if not p.is_file()]
    if missing:
        pytest.skip(f"committed result CSVs absent: {', '.join(missing)}")
    out = tmp_path_factory.mktemp("report")
    write_report(
        load_results(INPUTS),
        out,
        bootstrap=100,
        published_bootstrap=100,
        paired_bootstrap=100,
        plots=False,
        compare=["near"],
        pairs=[("params", "flops")],
        html=out / "report.html",
        inputs=INPUTS,
    )
    return out


def browse(page: Path, *flags: str, timeout: float = 120) -> subprocess.CompletedProcess:
    browser = find_browser()
    assert browser is not None
    command = [browser, "--headless", "--disable-gpu", "--no-sandbox", "--enable-logging=stderr", "--v=0", *flags]
    return subprocess.run(
        [*command, page.resolve().as_uri()], capture_output=True, text=True, timeout=timeout, check=False
    )


def console_messages(stderr: str) -> list[str]:
    """The page's console output and uncaught errors as Chromium logs them (``INFO:CONSOLE``)."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def page_errors(dom: str) -> str | None:
    """What the page's error trap wrote on <html data-js-errors="...">, or None."""
    found = re.search(r'<html[^>]*\bdata-js-errors="([^"]*)"', dom)
    return html.unescape(found.group(1)) if found else None


def rows_of(dom: str, table_class: str) -> list[tuple[list[str], str]]:
    """(cell texts, the row's class) of every body row of the tables of class ``table_class``."""
    found = []
    for table in re.findall(rf'<table class="sortable {table_class}">(.*?)</table>', dom, flags=re.S):
        for attrs, row in re.findall(r"<tr([^>]*)>(.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S):
            cells = [
                html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
                for c in re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.S)
            ]
            found.append((cells, attrs))
    return found


def test_page_is_self_contained_and_holds_every_section(report):
    page = (report / "report.html").read_text()
    for section in ("leaderboards", "paired", "published", "scatters", "provenance"):
        assert f'<section id="{section}">' in page
    # nothing fetched at view time: no external script, style sheet, image or font
    assert not re.findall(r'(?:src|href)="(?!#|data:)[^"]*"', page)
    assert "<link" not in page and "@import" not in page
    # every input's sidecar, every verdict as a filter choice, one SVG scatter per (proxy, space, dataset)
    for path in INPUTS:
        assert path.name in page
    for verdict in VERDICTS:
        assert f'<option value="{verdict}">' in page
    correlations = pd.read_csv(report / "correlations.csv")
    assert page.count('<svg class="scatter"') == len(correlations)
    assert (report / "paired_comparison.md").is_file()


@needs_browser
def test_page_renders_in_chromium_without_errors_and_shows_the_numbers(report):
    result = browse(report / "report.html", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = result.stdout
    assert 'data-ready="1"' in dom, "the page's script did not run to its end"
    assert page_errors(dom) is None
    assert console_messages(result.stderr) == []

    # the leaderboard rows show the correlation table's numbers (value and CI)
    correlations = pd.read_csv(report / "correlations.csv")
    leaderboard = {cells[0]: cells for cells, _ in rows_of(dom, "lb")}
    near = correlations[(correlations["proxy"] == "near") & (correlations["space"] == "nats-tss")].iloc[0]
    spearman = next(c for c in leaderboard["near"] if c.startswith(f"{near['spearman']:.3f}"))
    assert f"[{near['spearman_lo']:.3f}, {near['spearman_hi']:.3f}]" in spearman
    # the paired table: each (a, b, metric) with its difference and interval
    paired = pd.read_csv(report / "paired_comparison.csv", keep_default_na=False)
    shown = rows_of(dom, "paired")
    assert len(shown) == len(paired)
    for (cells, _), row in zip(shown, paired.itertuples(index=False)):
        assert cells[3:6] == [row.proxy_a, row.proxy_b, row.metric]
        assert f"{row.difference:.3f} [{row.ci_lo:.3f}, {row.ci_hi:.3f}]" in " ".join(cells)
        assert cells[-1] == row.excludes_zero
    # published vs ours: every cell, its verdict colouring the row
    published = pd.read_csv(report / "published_vs_ours.csv", keep_default_na=False)
    cells = rows_of(dom, "pvo")
    assert len(cells) == len(published) > 0
    assert {attrs for _, attrs in cells} <= {f' class="v-{v.replace(" ", "-")}"' for v in VERDICTS}


# run in the page after it has loaded: pick "differs" in the verdict filter, sort the leaderboard by Spearman
INTERACT = """<script>
var pick = document.querySelector('select[name="pvo-verdict"]');
pick.value = 'differs'; pick.dispatchEvent(new Event('input'));
var th = document.querySelector('table.lb th[data-col="spearman"]'); th.click(); th.click();
</script></body>"""


@needs_browser
def test_filters_and_sorting_work_in_chromium(report, tmp_path):
    page = tmp_path / "interact.html"
    page.write_text((report / "report.html").read_text().replace("</body>", INTERACT))
    result = browse(page, "--dump-dom")
    dom = result.stdout
    assert page_errors(dom) is None and console_messages(result.stderr) == []
    visible = [attrs for _, attrs in rows_of(dom, "pvo") if "hidden" not in attrs]
    published = pd.read_csv(report / "published_vs_ours.csv", keep_default_na=False)
    assert len(visible) == int((published["verdict"] == "differs").sum())
    # sorted twice: descending by Spearman
    names = [cells[0] for cells, _ in rows_of(dom, "lb")][:11]
    correlations = pd.read_csv(report / "correlations.csv")
    tss = correlations[correlations["space"] == "nats-tss"].sort_values("spearman", ascending=False)
    assert names == tss["proxy"].tolist()


@needs_browser
def test_an_error_in_the_page_is_caught(tmp_path):
    """The checks above can fail: an uncaught error and a console.error both show."""
    from nasprox.report.html import ERROR_TRAP

    page = tmp_path / "broken.html"
    page.write_text(
        f"<html><head><script>{ERROR_TRAP}</script></head><body>"
        "<script>console.error('oops'); missing();</script></body></html>"
    )
    result = browse(page, "--dump-dom")
    errors = page_errors(result.stdout)
    assert errors and "oops" in errors and "missing" in errors
    assert len(console_messages(result.stderr)) == 2


@needs_browser
def test_screenshot_is_drawn(report, tmp_path):
    from PIL import Image

    shot = tmp_path / "shot.png"
    result = browse(report / "report.html", f"--screenshot={shot}", "--window-size=1200,900", "--hide-scrollbars")
    assert shot.is_file(), result.stderr[-2000:]
    image = Image.open(shot).convert("L")
    assert image.size == (1200, 900)
    low, high = image.getextrema()
    assert high - low > 100  # text and bars drawn, not a blank page


def test_cli_writes_the_page_and_the_paired_table(tmp_path):
    out = tmp_path / "rep"
    result = CliRunner().invoke(
        app,
        [
            "report",
            str(INPUTS[1]),
            "--out",
            str(out),
            "--no-plots",
            "--bootstrap",
            "100",
            "--pair",
            "params,flops",
            "--html",
            str(tmp_path / "page.html"),
        ],
    )
    assert result.exit_code == 0, result.output
    paired = pd.read_csv(out / "paired_comparison.csv")
    assert list(paired[["proxy_a", "proxy_b"]].drop_duplicates().itertuples(index=False, name=None)) == [
        ("params", "flops")
    ]
    assert (tmp_path / "page.html").stat().st_size > 10_000
    bad = CliRunner().invoke(app, ["report", str(INPUTS[1]), "--out", str(out), "--pair", "params"])
    assert bad.exit_code == 2 and "two different proxies" in bad.output
