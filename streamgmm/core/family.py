"""Mixture families: what the one fit loop needs to know about a kind of mixture.

The loop (:func:`streamgmm.core.em.run_em`, the engine's seeds, best-of,
checkpoints and convergence) is the same for every Gaussian mixture fitted from
sufficient statistics; a family supplies the rest, as scikit-learn's
``BaseMixture`` subclasses supply ``_e_step``/``_m_step``:

- its *state* type (what an iteration produces, what a checkpoint holds),
- :meth:`~MixtureFamily.form`: the fused E-step's coefficients for a state,
- :meth:`~MixtureFamily.update`: merged statistics -> the next state,
- :meth:`~MixtureFamily.lower_bound`: the quantity whose change decides convergence,
- :meth:`~MixtureFamily.start`: a first state from initial responsibilities' statistics,
- :meth:`~MixtureFamily.state_arrays` / :meth:`~MixtureFamily.state_from_arrays`:
  the state as named arrays for checkpoints (:mod:`streamgmm.io.state_file`).

:class:`MaximumLikelihood` (``GaussianMixture``; the default) and
:class:`Variational` (``BayesianGaussianMixture``) are the two families.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from .estep import NaturalForm, natural_form
from .finite import check_finite_parameters
from .mstep import maximise
from .params import MixtureParameters
from .statistics import SufficientStatistics
from .variational import (
    VariationalPosterior,
    VariationalPriors,
    lower_bound,
    update_posterior,
    variational_form,
)

__all__ = ["MixtureFamily", "MaximumLikelihood", "Variational", "MAXIMUM_LIKELIHOOD"]


class MixtureFamily(Protocol):
    """A kind of Gaussian mixture, fitted from sufficient statistics by the one loop.

    Attributes
    ----------
    name : str
        Recorded in checkpoints: a checkpoint of another family is not resumed.
    """

    name: str

    def form(self, state: Any, dtype: np.dtype) -> NaturalForm:
        """The E-step's coefficients for ``state`` in the compute ``dtype``."""
        ...

    def update(
        self, stats: SufficientStatistics, reg_covar: float, previous: Any, *, step: str
    ) -> tuple[Any, tuple[int, ...]]:
        """The next state and the components that lost all their mass (to warn about)."""
        ...

    def lower_bound(self, stats: SufficientStatistics, previous: Any, new: Any) -> float:
        """The lower bound after an iteration: ``stats`` came from ``previous``, ``new`` from them."""
        ...

    def start(self, stats: SufficientStatistics, reg_covar: float, *, scale: float = 1.0) -> Any:
        """A first state from the statistics of initial responsibilities.

        ``scale`` is (rows of the data) / (rows of the statistics) when the
        statistics are those of a sample: a family whose update depends on the
        amount of data (priors) scales them up, maximum likelihood ignores it.
        """
        ...

    def state_arrays(self, state: Any) -> dict[str, np.ndarray]:
        """The state as named float arrays."""
        ...

    def state_from_arrays(self, arrays: Mapping[str, Any], prefix: str, covariance_type: str) -> Any:
        """Inverse of :meth:`state_arrays` (keys prefixed); refuses non-finite states."""
        ...


@dataclass(frozen=True)
class MaximumLikelihood:
    """Maximum-likelihood EM (``GaussianMixture``); the state is :class:`MixtureParameters`.

    Attributes
    ----------
    update_rule : UpdateRule
        The M-step, :func:`~streamgmm.core.mstep.maximise` by default.
    """

    update_rule: Any = maximise
    name: str = "maximum_likelihood"

    def form(self, state: MixtureParameters, dtype: np.dtype) -> NaturalForm:
        return natural_form(state, dtype)

    def update(
        self, stats: SufficientStatistics, reg_covar: float, previous: MixtureParameters | None,
        *, step: str,
    ) -> tuple[MixtureParameters, tuple[int, ...]]:
        result = self.update_rule(stats, reg_covar, previous=previous, step=step)
        return result.params, result.empty_components

    def lower_bound(self, stats: SufficientStatistics, previous: Any, new: Any) -> float:
        # scikit-learn's GaussianMixture: the mean log-likelihood of the E-step.
        return stats.mean_log_likelihood

    def start(self, stats: SufficientStatistics, reg_covar: float, *, scale: float = 1.0) -> MixtureParameters:
        return self.update_rule(stats, reg_covar, step="the initialisation").params

    def state_arrays(self, state: MixtureParameters) -> dict[str, np.ndarray]:
        return {
            "weights": state.weights,
            "means": state.means,
            "covariances": state.covariances,
            "precisions_cholesky": state.precisions_cholesky,
        }

    def state_from_arrays(self, arrays: Mapping[str, Any], prefix: str, covariance_type: str) -> MixtureParameters:
        params = MixtureParameters(
            arrays[f"{prefix}weights"],
            arrays[f"{prefix}means"],
            arrays[f"{prefix}covariances"],
            arrays[f"{prefix}precisions_cholesky"],
            covariance_type,
        )
        check_finite_parameters(
            params.weights, params.means, params.covariances, covariance_type, "the checkpoint"
        )
        return params


#: The default family.
MAXIMUM_LIKELIHOOD = MaximumLikelihood()


@dataclass(frozen=True, eq=False)
class Variational:
    """Variational Bayes (``BayesianGaussianMixture``); the state is a :class:`VariationalPosterior`.

    Attributes
    ----------
    priors : VariationalPriors
        Resolved (defaults filled in) before the fit.
    """

    priors: VariationalPriors
    name: str = "variational"

    def form(self, state: VariationalPosterior, dtype: np.dtype) -> NaturalForm:
        return variational_form(state, dtype)

    def update(
        self, stats: SufficientStatistics, reg_covar: float, previous: Any, *, step: str
    ) -> tuple[VariationalPosterior, tuple[int, ...]]:
        # A component without data falls back to its prior: that is how unneeded
        # components switch off, so it is not warned about.
        return update_posterior(stats, self.priors, reg_covar, step=step), ()

    def lower_bound(
        self, stats: SufficientStatistics, previous: VariationalPosterior, new: VariationalPosterior
    ) -> float:
        return lower_bound(stats, previous, new)

    def start(self, stats: SufficientStatistics, reg_covar: float, *, scale: float = 1.0) -> VariationalPosterior:
        if scale != 1.0:
            stats = stats.scale(scale)
        return update_posterior(stats, self.priors, reg_covar, step="the initialisation")

    def state_arrays(self, state: VariationalPosterior) -> dict[str, np.ndarray]:
        return state.arrays()

    def state_from_arrays(
        self, arrays: Mapping[str, Any], prefix: str, covariance_type: str
    ) -> VariationalPosterior:
        posterior = VariationalPosterior.from_arrays(
            arrays, covariance_type, self.priors.weight_concentration_prior_type, prefix
        )
        check_finite_parameters(
            posterior.weights, posterior.means, posterior.covariances, covariance_type, "the checkpoint"
        )
        return posterior
