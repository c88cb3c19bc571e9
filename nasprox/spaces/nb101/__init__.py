"""NAS-Bench-101 family: the space ``nb101`` (423,624 unique cells on CIFAR-10).

Upstream file (``nasprox/core/sources.py``: ``nb101``; google-research/nasbench), given with
``--benchmark``: ``nasbench_only108.tfrecord`` (or ``nasbench_full.tfrecord``), read without
TensorFlow by ``_nb101_tfrecord`` and cached once as a columnar ``.npz`` in the user cache dir by
``_nb101_cache`` (a cache ``.npz`` or a folder holding one of the tfrecords also works). Without it
architectures are given explicitly (module hash needs the file; compact spec, NASLib tuple or JSON
do not).

Modules: ``nb101`` (the registered space), ``_nb101_graph`` (specs, pruning, the official module
hash), ``_nb101_model`` (the PyTorch network), ``_nb101_tfrecord`` (TFRecord/protobuf reader),
``_nb101_cache`` (the ``.npz`` cache).
"""
