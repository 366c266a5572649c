"""The model a stream runner updates: a typed interface, and who makes it.

The runner (:mod:`streamgmm.online.runner`) sits below the estimators: it never
imports one. It talks to an :class:`OnlineModel` (what
``streamgmm.GaussianMixture`` offers through
:class:`~streamgmm.online.partial_fit.StepwiseEMMixin`, and
``streamgmm.BayesianGaussianMixture`` through
:class:`~streamgmm.online.svi_fit.StochasticVariationalMixin`) made by an
:class:`OnlineModelFactory`. The package root registers one factory per kind
of mixture (``"gaussian"``, ``"bayesian"``) when it is imported (any ``import
streamgmm...`` does), with :func:`register_model_factory`; each imports its
estimator on first use; the runner picks the
factory of its settings' ``model.kind``, or may be given one explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..core.errors import StreamGMMError

if TYPE_CHECKING:  # annotations only: ``import streamgmm`` registers factories without numpy
    import numpy as np

    from ..core.stepwise import OnlineState
    from ..core.svi import SVIState

__all__ = [
    "MODEL_KINDS", "OnlineModel", "OnlineModelFactory", "default_model_factory", "register_model_factory",
]

#: The kinds of mixture a stream can learn: maximum likelihood by stepwise EM, or
#: variational Bayes by stochastic variational inference.
MODEL_KINDS: tuple[str, ...] = ("gaussian", "bayesian")


@runtime_checkable
class OnlineModel(Protocol):
    """A mixture updated online (stepwise EM or SVI), batch after batch.

    Attributes
    ----------
    n_components : int
    dtype : str, numpy dtype or None
        Compute dtype (None follows the rows' dtype).
    warmed_up : bool
        Whether stepwise updates have started (``online_state_`` exists). Before
        that, ``partial_fit`` collects the warm-up rows and fits them by batch EM.
    online_state_ : OnlineState or SVIState
        Running statistics and counters (once warmed up).
    n_features_in_ : int
        Features, known after the first batch.
    batch_log_likelihood_ : float
        The last batch's mean log-likelihood, scored before its update.
    step_size_ : float
        The last step size.
    """

    n_components: int
    dtype: Any
    online_state_: OnlineState | SVIState
    n_features_in_: int
    batch_log_likelihood_: float
    step_size_: float

    @property
    def warmed_up(self) -> bool: ...

    def partial_fit(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:
        """One online update with the batch (or warm-up collection)."""
        ...

    def partial_fit_scored(
        self, X: np.ndarray, responsibilities: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """``partial_fit`` of finite rows (n, D), returning their log-likelihoods (n,)
        under the parameters before the update, and their responsibilities (n, K) if asked."""
        ...

    def set_params(self, **params: Any) -> Any:
        """Change constructor parameters (the runner sets ``step_size`` after a drift alarm)."""
        ...


class OnlineModelFactory(Protocol):
    """Makes the stream's model: fresh (``online`` None, it warms up) or continuing ``online``.

    ``params`` are the model's constructor parameters
    (:meth:`streamgmm.online.settings.ModelSetup.estimator_params`).
    """

    def __call__(self, online: OnlineState | SVIState | None, params: dict[str, Any]) -> OnlineModel: ...


_FACTORIES: dict[str, OnlineModelFactory] = {}


def register_model_factory(factory: OnlineModelFactory, kind: str = "gaussian") -> None:
    """Make ``factory`` the default of every runner of ``kind`` not given one.

    The package root calls it once per kind (:data:`MODEL_KINDS`); a factory
    registered later replaces that one.
    """
    if kind not in MODEL_KINDS:
        raise StreamGMMError(f"unknown model kind {kind!r}: choose one of {', '.join(MODEL_KINDS)}")
    _FACTORIES[kind] = factory


def default_model_factory(kind: str = "gaussian") -> OnlineModelFactory:
    """The factory registered for ``kind``.

    Raises
    ------
    StreamGMMError
        None is registered (streamgmm's estimators were not imported).
    """
    factory = _FACTORIES.get(kind)
    if factory is None:
        raise StreamGMMError(
            f"no model factory is registered for stream runners of kind {kind!r}: import "
            "streamgmm (its estimators register one per kind), or pass model_factory= to StreamRunner"
        )
    return factory
