"""Returns NaN instead of raising ProxyUndefined (check-plugin must catch it)."""

import math

from nasprox.core import proxy


@proxy("plug_nan", "always NaN (test fixture)", needs_real_data=False, cost="free")
def plug_nan(ctx):
    return math.nan
