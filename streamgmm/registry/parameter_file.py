"""The parameter arrays of a version as one ``.npz`` file, never pickled.

The archive holds ``weights.npy``, ``means.npy``, ``covariances.npy`` and
``precisions_cholesky.npy`` (float64, scikit-learn's shapes). Both
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
from typing import cast

import numpy as np

from streamgmm.core.covariance import CovarianceType
from streamgmm.core.params import MixtureParameters
from streamgmm.registry.errors import ArtifactIntegrityError

__all__ = ["PARAMETER_ARRAYS", "decode_parameters", "encode_parameters"]

PARAMETER_ARRAYS: tuple[str, ...] = ("weights", "means", "covariances", "precisions_cholesky")
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest representable time: a fixed stamp


def encode_parameters(parameters: MixtureParameters) -> bytes:
    """Serialise the arrays of ``parameters`` as deterministic ``.npz`` bytes.

    Parameters
    ----------
    parameters : MixtureParameters
        weights (K,), means (K, D), covariances and precisions_cholesky (shape by
        covariance type).

    Returns
    -------
    bytes
        An uncompressed zip of ``.npy`` members, identical for identical arrays.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, mode="w", compression=zipfile.ZIP_STORED) as archive:
        for name in PARAMETER_ARRAYS:
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_EPOCH)
            info.external_attr = 0o644 << 16
            with archive.open(info, mode="w", force_zip64=True) as member:
                array = np.ascontiguousarray(getattr(parameters, name), dtype=np.float64)
                np.lib.format.write_array(member, array, allow_pickle=False)
    return buffer.getvalue()


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
    remedy = "Restore the version folder from a backup, or publish the model again."
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise ValueError("it is a single .npy array, not an .npz archive")
        with loaded as archive:
            found = sorted(archive.files)
            if found != sorted(PARAMETER_ARRAYS):
                raise ValueError(
                    f"it holds the arrays {found}, expected {sorted(PARAMETER_ARRAYS)}"
                )
            arrays = {name: archive[name] for name in PARAMETER_ARRAYS}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ArtifactIntegrityError(
            f"{source} is not a readable parameter archive: {exc}. {remedy}"
        ) from exc
    for name, array in arrays.items():
        if array.dtype != np.float64:
            raise ArtifactIntegrityError(
                f"{source}: array {name!r} has dtype {array.dtype}, expected float64. {remedy}"
            )
    try:
        return MixtureParameters(covariance_type=cast(CovarianceType, covariance_type), **arrays)
    except ValueError as exc:
        raise ArtifactIntegrityError(f"{source}: {exc}. {remedy}") from exc
