"""Runnable examples: the use cases people come for, end to end, with pictures.

Each example is one module, run from the repository root::

    python -m streamgmm.examples.image_segmentation   # colour segmentation of photographs
    python -m streamgmm.examples.large_image          # the same on a 20,000 x 20,000 image
    python -m streamgmm.examples.customers            # soft clustering of a customer table
    python -m streamgmm.examples.anomalies            # anomaly detection at a false-alarm rate
    python -m streamgmm.examples.heights              # the one-dimensional classic
    python -m streamgmm.examples.choosing_k           # the number of clusters by BIC (select_k)
    python -m streamgmm.examples.too_many_components  # EM vs a Dirichlet-process prior, K too large
    python -m streamgmm.examples.streams              # speech and sensor streams, learnt online

Every module takes ``--size reduced|full`` (reduced is what CI runs), ``--out DIR``
(the pictures; default ``data/examples/``) and ``--work DIR`` (the generated data,
registry and predictions; default ``data/generated/examples/<name>/``), and has a
``run(...)`` function returning the numbers its test checks.

Where a YAML config can express the job, the example drives the real ``batch_fit``
flow on a config in ``configs/examples/`` and only prepares data and draws pictures
(see :mod:`.flow_runner`); otherwise it uses the library API. The examples read their
configs from the checkout (``configs/examples/``); nothing else in ``streamgmm``
imports them (``streamgmm examples NAME`` runs one by name). Needs the ``examples`` extra (``pip install -e '.[examples]'``).
"""
