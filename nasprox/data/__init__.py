"""Deterministic, seeded input batches: real images from a local root, or synthetic on request."""

from nasprox.data.images import ImageStream, image_batches, load_image_source

__all__ = ["ImageStream", "image_batches", "load_image_source"]
