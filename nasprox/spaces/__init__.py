"""Search spaces: one subpackage per benchmark family (``nats``, ``nb101``, ``transnas``, ``nlp``),
each module of a space registering itself with ``@space``; helpers shared across families
(``_gt_csv``) stay here. The registry imports every public module of the public subpackages."""
