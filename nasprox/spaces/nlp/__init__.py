"""NAS-Bench-NLP family: the space ``nb-nlp`` (recurrent cells in a 3-layer AWD-LSTM-style LM).

Upstream files (``nasprox/core/sources.py``: ``nb-nlp``, ``ptb``, ``wikitext-2``;
fmsnew/nas-bench-nlp-release), given with ``--benchmark``:

* the training logs ``train_logs_single_run/logs.zip`` or ``train_logs_wikitext-2/logs.zip``
  (``log_stats_model_<id>_<time>_<exp>.json``; a folder, a ``.zip`` read in place, or files);
* the recipe list ``models_recepies.json`` (index = position in the list).

Inputs (``--data-root``): Penn Treebank (``ptb.train.txt`` ...) or WikiText-2
(``wiki.train.tokens`` ...), read by ``nasprox.data.text``.

Modules: ``nb_nlp`` (the registered space), ``_nlp_logs`` (log and recipe-list readers),
``_nlp_model`` (recipes -> the PyTorch language model).
"""
