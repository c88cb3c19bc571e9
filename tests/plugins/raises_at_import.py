"""Raises while it is imported (a one-line error naming this file and line 5, exit 2)."""

THRESHOLD = 3

raise RuntimeError("cannot find my_weights.pt")
