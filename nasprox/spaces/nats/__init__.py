"""NATS-Bench family: the topology space ``nats-tss`` (= NAS-Bench-201) and the size space ``nats-sss``.

Upstream files (``nasprox/core/sources.py``: ``nats-tss``, ``nats-sss``, ``nats-tss-csv``,
``nats-sss-csv``; D-X-Y/NATS-Bench), all optional, given with ``--benchmark`` / ``--ground-truth``:

* the NATS-Bench v1.0 archives ``NATS-tss-v1_0-3ffb9-simple/`` / ``NATS-sss-v1_0-50262-simple/``
  (``meta.pickle.pbz2`` plus one ``{index:06d}.pickle.pbz2`` per architecture) or the single-file
  ``NATS-tss-v1_0-3ffb9.pickle.pbz2`` / ``NATS-sss-v1_0-50262.pickle.pbz2``, read without the
  ``nats_bench`` package by ``_nats_files`` (TSS at ``hp='200'``, SSS at ``hp='90'``);
* a plain ground-truth CSV such as ``nb201_test_acc_200ep.csv`` / ``sss_test_acc_90ep.csv``
  (``nasprox.spaces._gt_csv``).

Modules: ``nats_tss`` and ``nats_sss`` (the registered spaces), ``_nats_common`` (datasets, input
specs, ground-truth plumbing), ``_nats_files`` (archive reader), ``_nb201_codec`` (the one NB201 op
list, edge order, arch-string / genotype / NASLib-tuple codec), ``_nb201_ops`` (xautodl cell ops, ``TinyNetwork``,
``DynamicShapeTinyNet``), ``_nb201_graph`` (dead-edge pruning, isomorphism classes, GRAF features).
Architectures and indices are generated without any file.
"""
