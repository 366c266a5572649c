"""Fit checkpoints: the EM state after every iteration, written atomically.

One state file (:mod:`streamgmm.io.state_file`) holds everything: parameters of
the current and of the best initialisation, iteration counts, lower bounds, and a
JSON header. It is replaced atomically, so a crash at any moment leaves either
the old or the new checkpoint, never a torn one, and it is loaded with
``allow_pickle=False``: a checkpoint cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.em import EMState
from ..core.errors import StreamGMMError
from ..core.family import MAXIMUM_LIKELIHOOD, MixtureFamily
from ..io.destinations import check_reusable, legacy_files, prepare_output_folder
from ..io.state_file import load_state_file, save_state_file

__all__ = ["FitCheckpoint", "CheckpointRecord", "CheckpointMismatchError", "fit_key"]

_FILE_NAME = "fit-checkpoint.npz"
_SCHEMA_VERSION = 1
#: A checkpoint folder of an earlier version (no marker): only the checkpoint and its temporaries.
is_legacy_checkpoint_folder = legacy_files(_FILE_NAME, f".{_FILE_NAME}[-.]*.tmp")


class CheckpointMismatchError(StreamGMMError, ValueError):
    """A checkpoint exists but was written by a different fit."""


def fit_key(description: dict[str, Any]) -> str:
    """A stable hash of what defines a fit (data fingerprint and estimator parameters)."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CheckpointRecord:
    """Progress of a fit with ``n_init`` initialisations.

    Attributes
    ----------
    key : str
        :func:`fit_key` of the fit that wrote it.
    init_index : int
        The initialisation in progress (``n_init`` once the fit is complete).
    current : EMState or None
        Its state after the last completed iteration; None if it has not started.
    best : EMState or None
        The best finished initialisation so far.
    """

    key: str
    init_index: int
    current: EMState | None
    best: EMState | None


def _state_arrays(prefix: str, state: EMState, family: MixtureFamily) -> dict[str, np.ndarray]:
    arrays = {f"{prefix}{name}": value for name, value in family.state_arrays(state.params).items()}
    arrays[f"{prefix}lower_bounds"] = np.asarray(state.lower_bounds, dtype=np.float64)
    return arrays


def _state_from(prefix: str, arrays: Any, header: dict[str, Any], family: MixtureFamily) -> EMState:
    # The family refuses a non-finite state, e.g. one an older streamgmm wrote:
    # load() reports it as a checkpoint that cannot be read.
    params = family.state_from_arrays(arrays, prefix, header["covariance_type"])
    return EMState(
        params=params,
        n_iter=int(header[f"{prefix}n_iter"]),
        lower_bounds=tuple(float(v) for v in arrays[f"{prefix}lower_bounds"]),
        converged=bool(header[f"{prefix}converged"]),
    )


class FitCheckpoint:
    """Checkpoint file of one fit in ``directory`` (created if needed).

    The folder is streamgmm's own (see :mod:`streamgmm.io.destinations`): new,
    empty, marked as a checkpoint folder, or one an earlier version left with only
    its checkpoint in it. Any other folder is refused when this object is made,
    before the fit's first pass. ``family`` (maximum likelihood by default) says
    which arrays a state has; a checkpoint of another family is not resumed.

    Raises
    ------
    DestinationError
        ``directory`` is a plain file or holds files streamgmm did not write.
    """

    def __init__(self, directory: str | os.PathLike, family: MixtureFamily = MAXIMUM_LIKELIHOOD) -> None:
        self.directory = Path(directory)
        self.family = family
        self.path = self.directory / _FILE_NAME
        check_reusable(self.directory, "checkpoint", legacy=is_legacy_checkpoint_folder)
        self._prepared = False

    def save(self, record: CheckpointRecord) -> None:
        """Replace the checkpoint with ``record`` atomically (write, fsync, rename)."""
        if not self._prepared:  # once per fit: check, create, probe, mark
            prepare_output_folder(self.directory, "checkpoint", legacy=is_legacy_checkpoint_folder)
            self._prepared = True
        header: dict[str, Any] = {
            "key": record.key,
            "init_index": record.init_index,
            "has_current": record.current is not None,
            "has_best": record.best is not None,
            "family": self.family.name,
        }
        arrays: dict[str, np.ndarray] = {}
        if record.current is not None:
            header["covariance_type"] = record.current.params.covariance_type
            header["current_n_iter"] = record.current.n_iter
            header["current_converged"] = record.current.converged
            arrays.update(_state_arrays("current_", record.current, self.family))
        if record.best is not None:
            header["covariance_type"] = record.best.params.covariance_type
            header["best_n_iter"] = record.best.n_iter
            header["best_converged"] = record.best.converged
            arrays.update(_state_arrays("best_", record.best, self.family))
        save_state_file(self.path, header, arrays, schema_version=_SCHEMA_VERSION)

    def load(self, expected_key: str) -> CheckpointRecord | None:
        """The saved record, None if there is none.

        Raises
        ------
        CheckpointMismatchError
            If the checkpoint belongs to a different fit (other data or parameters).
        """
        def parse(header: dict[str, Any], arrays: Any) -> CheckpointRecord:
            if header["key"] != expected_key or header.get("family", MAXIMUM_LIKELIHOOD.name) != self.family.name:
                raise CheckpointMismatchError(
                    f"Checkpoint '{self.path}' was written by a different fit (other data "
                    "or parameters). Use another checkpoint location, or delete it to "
                    "start afresh."
                )
            current = _state_from("current_", arrays, header, self.family) if header["has_current"] else None
            best = _state_from("best_", arrays, header, self.family) if header["has_best"] else None
            return CheckpointRecord(
                key=header["key"], init_index=int(header["init_index"]), current=current, best=best
            )

        return load_state_file(
            self.path, parse, readable=(_SCHEMA_VERSION,), what="Checkpoint",
            error=CheckpointMismatchError,
            outdated="Delete it to start the fit afresh.",
            unreadable="Delete it to start the fit afresh.",
        )

    def clear(self) -> None:
        """Remove the checkpoint (after a fit completed)."""
        if self.path.exists():
            self.path.unlink()
