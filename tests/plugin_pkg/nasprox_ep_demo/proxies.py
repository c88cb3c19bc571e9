"""Loaded through the ``nasprox.plugins`` entry point of this package (test fixture)."""

from nasprox.core import proxy


@proxy(
    "ep_width",
    "number of parameters of the first layer (test fixture)",
    version="2",
    needs_real_data=False,
    cost="free",
    leaves_model_unchanged=True,
)
def ep_width(ctx):
    return float(next(ctx.model.parameters()).numel())
