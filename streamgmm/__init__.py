"""streamgmm: Gaussian mixture clustering for data larger than memory and for streams.

>>> from streamgmm import GaussianMixture
>>> model = GaussianMixture(n_components=3).fit(X)                  # doctest: +SKIP
>>> model = GaussianMixture(n_components=3).fit("data/big.zarr")    # doctest: +SKIP

Layers
------
Imports point down only (a function-level import counts too); the import-linter
contracts in ``pyproject.toml`` check it in the test suite. From the top::

    streamgmm.__main__                      python -m streamgmm
    streamgmm.cli                           the command line, a module per command
    streamgmm.examples                      runnable examples
    streamgmm.orchestration                 Prefect flows and tasks (the only Prefect importer)
    streamgmm.preflight                     a job's inputs and destinations, checked first
    streamgmm.selection                     choosing K: fit_candidates, evaluate_candidates
    streamgmm.reporting                     metrics, tables, plots of fitted models
    streamgmm.estimator, streamgmm.bayesian  scikit-learn facades (GaussianMixture,
                                            BayesianGaussianMixture), side by side
    streamgmm.mixture_base                  what the two facades share (validation, prediction)
    streamgmm.engine                        the fit: Driver protocol, open_driver, fit
    streamgmm.online                        stepwise EM, stream sources, the runner
    streamgmm.drivers                       where passes run (threads, Dask), checkpoints
    streamgmm.validation                    parameter and input checks
    streamgmm.datasets                      the real example datasets
    streamgmm.config                        YAML -> frozen validated configs
    streamgmm.registry                      versioned model artifacts and their errors
    streamgmm.io                            readers/writers, the atomic writer, output rules
    streamgmm.core                          numpy/scipy math, imports nothing of ours

A layer may import any layer below it, never one above; no exception is listed.
The package root
re-exports from ``core``, ``registry``, ``estimator`` and ``bayesian``. The stream runner
(``online``) gets its model from the factory the estimator registers
(:func:`streamgmm.online.model.register_model_factory`), not by importing it.
"""

from .bayesian import BayesianGaussianMixture
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
from .registry.errors import (
    ArtifactIntegrityError,
    ModelNotFoundError,
    ReadOnlyRegistryError,
    RegistryError,
    RegistryLockTimeoutError,
    UnsupportedSchemaVersionError,
)

__version__ = "0.1.0"


def open_rows(source, **options):
    """Open a Dask/xarray/zarr array or a Zarr/Parquet path as lazy rows (see streamgmm.io.sources)."""
    from .io.sources import open_rows as _open_rows

    return _open_rows(source, **options)


def write_predictions(params, source, target, **options):
    """Write labels, responsibilities and log-likelihoods to Zarr (see streamgmm.drivers.predictions)."""
    from .drivers.predictions import write_predictions as _write_predictions

    return _write_predictions(params, source, target, **options)


__all__ = [
    "BayesianGaussianMixture",
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
    "RegistryError",
    "ModelNotFoundError",
    "ArtifactIntegrityError",
    "UnsupportedSchemaVersionError",
    "ReadOnlyRegistryError",
    "RegistryLockTimeoutError",
    "__version__",
]
