"""Bad metadata: cost is not one of the cost classes (a one-line error, exit 2)."""

from nasprox.core import proxy


@proxy("plug_bad_cost", "bad metadata (test fixture)", cost="cheap")
def plug_bad_cost(ctx):
    return 1.0
