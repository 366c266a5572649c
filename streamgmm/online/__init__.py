"""Online learning from streams: stepwise EM, stream sources, the stream runner, drift.

- :mod:`streamgmm.core.stepwise`: the numeric recursion (shared with
  ``GaussianMixture.partial_fit``).
- :mod:`streamgmm.online.sources`: where batches come from (an append-only Zarr
  store, a landing folder, standard input) behind one small interface.
- :mod:`streamgmm.online.runner`: consumes a source with exactly-once, crash-safe
  commits of the model state together with the source position.
- :mod:`streamgmm.online.drift`: change detectors on the per-batch log-likelihood.
- :mod:`streamgmm.online.messages` and :mod:`streamgmm.online.brokers`: message
  formats, and sources reading message brokers (Kafka, Redis Streams, ...).

Submodules are imported on use; importing this package is cheap.
"""
