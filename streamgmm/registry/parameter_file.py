"""The parameter arrays of a version as one ``.npz`` file, never pickled.

The archive holds ``weights.npy``, ``means.npy``, ``covariances.npy`` and
``precisions_cholesky.npy`` (float64, scikit-learn's shapes); a Bayesian
version's also holds the rest of its variational posterior and its priors
(:mod:`streamgmm.core.variational_arrays`: ``weight_concentration``,
``mean_precision``, ``degrees_of_freedom``, ``*_prior``). Both
representations of the covariances are stored so a loaded model is bitwise the
one that was saved, with no refactorisation.

The zip is written by hand rather than with ``np.savez`` so that its bytes
depend only on the arrays (fixed member order and timestamps): the same
parameters always hash to the same sha256. ``np.load`` reads it as any ``.npz``,
and it is read back with ``allow_pickle=False`` so loading cannot run code.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from typing import cast

import numpy as np

from streamgmm.core.covariance import CovarianceType
from streamgmm.core.params import MixtureParameters
from streamgmm.core.variational import VariationalPosterior, VariationalPriors
from streamgmm.core.variational_arrays import POSTERIOR_ARRAYS, PRIOR_ARRAYS, variational_from_arrays
from streamgmm.registry.errors import ArtifactIntegrityError

__all__ = ["PARAMETER_ARRAYS", "decode_parameters", "decode_variational", "encode_parameters"]

PARAMETER_ARRAYS: tuple[str, ...] = ("weights", "means", "covariances", "precisions_cholesky")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest representable time: a fixed stamp
_REMEDY = "Restore the version folder from a backup, or publish the model again."


def encode_parameters(
    parameters: MixtureParameters, extra: Mapping[str, np.ndarray] | None = None
) -> bytes:
    """Serialise the arrays of ``parameters`` as deterministic ``.npz`` bytes.

    Parameters
    ----------
    parameters : MixtureParameters
        weights (K,), means (K, D), covariances and precisions_cholesky (shape by
        covariance type).
    extra : mapping of str to ndarray, optional
        Further float64 arrays (a variational posterior's), stored after them in name order.

    Returns
    -------
    bytes
        An uncompressed zip of ``.npy`` members, identical for identical arrays.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        members = [(name, getattr(parameters, name)) for name in PARAMETER_ARRAYS]
        members += sorted((extra or {}).items())
        for name, value in members:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w", force_zip64=True) as member:
                # order="C", not ascontiguousarray: that turns 0-d arrays (scalar priors) into 1-d
                array = np.asarray(value, dtype=np.float64, order="C")
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


def _decode_arrays(data: bytes, names: tuple[str, ...], source: str) -> dict[str, np.ndarray]:
    """Exactly the float64 arrays ``names`` of the archive, or an error naming ``source``."""
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it is a single .npy array, not an .npz archive")
        with loaded as archive:
            found = sorted(archive.files)
            if found != sorted(names):
                raise ValueError(f"it holds the arrays {found}, expected {sorted(names)}")
            arrays = {name: archive[name] for name in names}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactIntegrityError(
            f"{source} is not a readable parameter archive: {exc}. {_REMEDY}"
        ) from exc
    for name, array in arrays.items():
        if array.dtype != np.float64:
            raise ArtifactIntegrityError(
                f"{source}: array {name!r} has dtype {array.dtype}, expected float64. {_REMEDY}"
            )
    return arrays


def _mixture(arrays: Mapping[str, np.ndarray], covariance_type: str, source: str) -> MixtureParameters:
    try:
        return MixtureParameters(
            covariance_type=cast(CovarianceType, covariance_type),
            **{name: arrays[name] for name in PARAMETER_ARRAYS},
        )
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{source}: {exc}. {_REMEDY}") from exc


def decode_variational(
    data: bytes, *, covariance_type: str, weight_concentration_prior_type: str, source: str
) -> tuple[MixtureParameters, VariationalPosterior, VariationalPriors]:
    """Read a Bayesian version's archive: the point estimate, the posterior and the priors.

    Raises
    ------
    ArtifactIntegrityError
        As :func:`decode_parameters`, also for posterior arrays that do not fit together.
    """
    arrays = _decode_arrays(data, PARAMETER_ARRAYS + POSTERIOR_ARRAYS + PRIOR_ARRAYS, source)
    parameters = _mixture(arrays, covariance_type, source)
    try:
        posterior, priors = variational_from_arrays(
            arrays,
            means=parameters.means,
            covariances=parameters.covariances,
            precisions_cholesky=parameters.precisions_cholesky,
            covariance_type=covariance_type,
            weight_concentration_prior_type=weight_concentration_prior_type,
        )
        k, d = parameters.n_components, parameters.n_features
        sticks = 2 if weight_concentration_prior_type == "dirichlet_process" else 1
        shapes = {
            "weight_concentration": (arrays["weight_concentration"].shape, (sticks, k)),
            "mean_precision": (posterior.mean_precision.shape, (k,)),
            "mean_prior": (priors.mean_prior.shape, (d,)),
        }
        for name, (found, expected) in shapes.items():
            if found != expected:
                raise ValueError(f"{name} has shape {found}, expected {expected}")
    except (ValueError, TypeError, IndexError) as exc:
        raise ArtifactIntegrityError(f"{source}: {exc}. {_REMEDY}") from exc
    return parameters, posterior, priors


def decode_parameters(data: bytes, *, covariance_type: str, source: str) -> MixtureParameters:
    """Read parameters from ``.npz`` bytes written by :func:`encode_parameters`.

    Parameters
    ----------
    data : bytes
        The file's contents (already checksum-verified by the caller).
    covariance_type : str
        From the version's metadata; decides the expected covariance shapes.
    source : str
        Path or URL of the file, named in every error.

    Returns
    -------
    MixtureParameters

    Raises
    ------
    ArtifactIntegrityError
        If the archive is unreadable, holds other arrays, non-float64 or object
        arrays, or arrays whose shapes do not fit together.
    """
    return _mixture(_decode_arrays(data, PARAMETER_ARRAYS, source), covariance_type, source)
