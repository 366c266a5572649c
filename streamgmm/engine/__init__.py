"""The fit engine: the layer between the estimators and where the passes run.

- :class:`Driver` (:mod:`.driver`): the typed contract of "where the passes
  run", satisfied by :class:`~streamgmm.drivers.in_memory.ChunkedArray` and
  :class:`~streamgmm.drivers.dask_rows.DaskRows`.
- :func:`open_driver` (:mod:`.factory`): the one factory from any accepted input
  (numpy, Dask, xarray, zarr, RowData, path or URL) to a driver, with the data's
  description for checkpoint keys.
- :func:`fit` (:mod:`.fit`): seeds, ``n_init``, best-of, checkpoints,
  convergence, the ConvergenceWarning and verbose reporting, for one mixture or
  for many sharing passes. The kind of mixture is a parameter
  (:class:`FitPlan.family`, a :class:`~streamgmm.core.family.MixtureFamily`:
  maximum likelihood, whose M-step is an :class:`~streamgmm.core.em.UpdateRule`,
  or variational).

``GaussianMixture.fit`` and :func:`streamgmm.selection.fit_candidates` both call
:func:`fit`; the layer order of the package is written in :mod:`streamgmm`.
"""

from ..core.em import UpdateRule
from .driver import Driver
from .factory import DriverOptions, OpenedData, content_hash, n_threads, open_driver
from .fit import Checkpointing, FitPlan, FitResult, PassReport, WarmStart, fit
from .start import MixtureSpec

__all__ = [
    "Checkpointing",
    "Driver",
    "DriverOptions",
    "FitPlan",
    "FitResult",
    "MixtureSpec",
    "OpenedData",
    "PassReport",
    "UpdateRule",
    "WarmStart",
    "content_hash",
    "fit",
    "n_threads",
    "open_driver",
]
