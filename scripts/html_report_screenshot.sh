#!/usr/bin/env bash
# The HTML report over every committed reproduction CSV (results/reproduction/*.csv, the same flags as the
# committed report: docs/reproduction.md), NEAR compared pairwise with every other proxy, then a headless
# Chromium screenshot of its first screen into docs/report_html.png, and the page's weight.
# Usage: scripts/html_report_screenshot.sh [OUT_DIR] [BOOTSTRAP] [WORKERS]
#   (default: /tmp/nasprox_html_report, 1000 resamples, 1 process; needs `chromium` on PATH)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/tmp/nasprox_html_report}
BOOTSTRAP=${2:-1000}
WORKERS=${3:-1}
BROWSER=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$BROWSER" ]; then
  echo "no chromium on PATH (apt-get install chromium)" >&2
  exit 2
fi
nasprox report results/reproduction/*.csv --out "$OUT" --bootstrap "$BOOTSTRAP" --workers "$WORKERS" \
  --split-settings --stand-in test_acc=valid_acc --stand-in test_metric=valid_metric --no-plots \
  --compare near --html "$OUT/report.html"
"$BROWSER" --headless --disable-gpu --no-sandbox --hide-scrollbars --window-size=1400,1700 \
  --screenshot="$PWD/docs/report_html.png" "file://$(realpath "$OUT/report.html")" 2>/dev/null
echo "page weight: $(stat -c %s "$OUT/report.html") bytes ($OUT/report.html)"
echo "screenshot: docs/report_html.png"
