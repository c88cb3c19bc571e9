"""TransNAS-Bench-101 family: the spaces ``transnas-micro`` (4,096 cells) and ``transnas-macro``
(3,256 skeletons), seven Taskonomy tasks.

Upstream files (``nasprox/core/sources.py``: ``transnas``, ``transnas-csv``, ``taskonomy``):

* ``--benchmark``: the official API file ``transnas-bench_v10141024.pth`` (yawen-d/TransNASBench);
* ``--ground-truth``: a CSV with ``tnb_arch_str`` and ``val_<task>`` columns, e.g. NASLib's
  ``tnb101_micro_valmetric_zen.csv`` / ``tnb101_macro_valmetric_zen.csv`` (automl/NASLib), or one with
  best-epoch ``<task>.<split>_<metric>`` columns, e.g. ``tnb101_micro_best_epoch_metrics.csv``
  (Zhenhan-Huang/NASGraph-Public, the TransNAS API's ``mode='best'``);
* ``--data-root``: Taskonomy RGB images saved as an ``.npz`` (StanfordVL/taskonomy).

Modules: ``transnas_micro`` and ``transnas_macro`` (the registered spaces), ``_transnas_common``
(tasks, input specs, losses, arch strings, ground truth), ``_transnas_model`` (encoder and task
decoders). Architectures and indices are generated without any file.
"""
