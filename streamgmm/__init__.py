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
re-exports from ``core``, ``registry``, ``estimator`` and ``bayesian``, each name
imported on first use (so the command line starts without scikit-learn or Dask). The
stream runner (``online``) gets its model from the factory the root registers
(:func:`streamgmm.online.model.register_model_factory`), not by importing it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .online.model import register_model_factory

if TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use
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

#: Public name -> the module defining it. They are imported on first use (PEP 562),
#: so ``import streamgmm.cli`` (every command) does not load scikit-learn, Dask and
#: xarray before it needs them: ``streamgmm fit`` starts Prefect's API server first.
_EXPORTS: dict[str, str] = {
    "BayesianGaussianMixture": ".bayesian",
    "GaussianMixture": ".estimator",
    "MixtureParameters": ".core.params",
    "SufficientStatistics": ".core.statistics",
    **dict.fromkeys(
        ("EmptyComponentWarning", "IllConditionedCovarianceError", "InvalidInputError",
         "InvalidParameterError", "NonFiniteModelError", "StreamGMMError",
         "ValuesTooLargeError"),
        ".core.errors",
    ),
    **dict.fromkeys(
        ("ArtifactIntegrityError", "ModelNotFoundError", "ReadOnlyRegistryError",
         "RegistryError", "RegistryLockTimeoutError", "UnsupportedSchemaVersionError"),
        ".registry.errors",
    ),
}


def __getattr__(name: str) -> Any:
    """A public name, imported from its module on first use (then cached here)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


#: Kind of stream model -> the estimator module whose ``_stream_model`` makes it.
_STREAM_MODELS: dict[str, str] = {"gaussian": ".estimator", "bayesian": ".bayesian"}


class _StreamModelFactory:
    """The stream runners' model factory of one kind; imports its estimator on first use.

    Registered for every kind as the package loads, so a runner built from any
    ``streamgmm`` import finds one, and a factory a user registers afterwards wins.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __call__(self, online: Any, params: dict[str, Any]) -> Any:
        make = importlib.import_module(_STREAM_MODELS[self.kind], __name__)._stream_model
        return make(online, params)


for _kind in _STREAM_MODELS:
    register_model_factory(_StreamModelFactory(_kind), kind=_kind)
del _kind


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
