"""streamgmm: Gaussian mixture clustering for data larger than memory and for streams.

>>> from streamgmm import GaussianMixture
>>> model = GaussianMixture(n_components=3).fit(X)        # doctest: +SKIP
"""

from .core.errors import (
    EmptyComponentWarning,
    IllConditionedCovarianceError,
    InvalidInputError,
    InvalidParameterError,
    StreamGMMError,
)
from .core.params import MixtureParameters
from .core.statistics import SufficientStatistics
from .estimator import GaussianMixture

__version__ = "0.1.0"

__all__ = [
    "GaussianMixture",
    "MixtureParameters",
    "SufficientStatistics",
    "StreamGMMError",
    "InvalidInputError",
    "InvalidParameterError",
    "IllConditionedCovarianceError",
    "EmptyComponentWarning",
    "__version__",
]
