"""The exceptions streamgmm raises, in one hierarchy.

Every error is also a ``ValueError`` where scikit-learn raises one, so code that
catches scikit-learn's errors keeps working.
"""

from __future__ import annotations


class StreamGMMError(Exception):
    """Base class of every error raised by streamgmm."""


class InvalidParameterError(StreamGMMError, ValueError):
    """A constructor or function parameter has a value outside what is allowed."""


class InvalidInputError(StreamGMMError, ValueError):
    """Input data cannot be used as given (shape, dtype, NaN/inf, too few samples)."""


class IllConditionedCovarianceError(StreamGMMError, ValueError):
    """A covariance matrix is not positive definite and cannot be factorised."""


class IncompatibleStatisticsError(StreamGMMError, ValueError):
    """Two sufficient statistics cannot be merged (different shapes or covariance types)."""


class NonFiniteModelError(StreamGMMError, ValueError):
    """An EM step produced NaN or infinite statistics or parameters.

    Raised instead of returning (or keeping) such a model; the message names the
    step, the component and the likely cause (see :mod:`streamgmm.core.finite`).
    """


class ValuesTooLargeError(NonFiniteModelError, InvalidInputError):
    """Input values too large for their squares to be represented in the compute dtype.

    Both a :class:`NonFiniteModelError` (what fitting them would produce) and an
    :class:`InvalidInputError` (the data are the cause: rescale them).
    """


class EmptyComponentWarning(UserWarning):
    """A mixture component lost all its responsibility mass during EM."""
