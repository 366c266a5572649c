"""streamgmm: Gaussian mixture clustering for data larger than memory and for streams.

>>> from streamgmm import GaussianMixture
>>> model = GaussianMixture(n_components=3).fit(X)                  # doctest: +SKIP
>>> model = GaussianMixture(n_components=3).fit("data/big.zarr")    # doctest: +SKIP
"""

from .core.errors import (
    EmptyComponentWarning,
    IllConditionedCovarianceError,
    InvalidInputError,
    InvalidParameterError,
    NonFiniteModelError,
    StreamGMMError,
    ValuesTooLargeError,
)
from .core.params import MixtureParameters
from .core.statistics import SufficientStatistics
from .estimator import GaussianMixture

__version__ = "0.1.0"


def open_rows(source, **options):
    """Open a Dask/xarray/zarr array or a Zarr/Parquet path as lazy rows (see streamgmm.io.sources)."""
    from .io.sources import open_rows as _open_rows

    return _open_rows(source, **options)


def write_predictions(params, source, target, **options):
    """Write labels, responsibilities and log-likelihoods to Zarr (see streamgmm.io.predictions)."""
    from .io.predictions import write_predictions as _write_predictions

    return _write_predictions(params, source, target, **options)


__all__ = [
    "GaussianMixture",
    "MixtureParameters",
    "SufficientStatistics",
    "open_rows",
    "write_predictions",
    "StreamGMMError",
    "InvalidInputError",
    "InvalidParameterError",
    "IllConditionedCovarianceError",
    "NonFiniteModelError",
    "ValuesTooLargeError",
    "EmptyComponentWarning",
    "__version__",
]
