"""Writers of the fault-injection suite run in their own process, to be limited or killed.

    python fault_process.py predict MODEL.npz DATA TARGET
        Score the Zarr DATA with the parameters in MODEL.npz (covariance type in the file)
        and write the predictions group TARGET, replacing an existing one (overwrite=True).

The other writers have processes already: ``tests/ooc/ooc_fit_process.py`` (a checkpointed
fit), ``tests/registry/publisher_process.py`` (publish), ``python -m streamgmm.cli.stream``
(a stream), ``python -m streamgmm models gc`` and ``python -m streamgmm datagen``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from streamgmm import write_predictions
from streamgmm.core.params import MixtureParameters

ARRAYS = ("weights", "means", "covariances", "precisions_cholesky")


def save_parameters(params: MixtureParameters, path: Path) -> None:
    """Write ``params`` for :func:`load_parameters` (the test side of ``predict``)."""
    np.savez(path, covariance_type=np.array(params.covariance_type),
             **{name: getattr(params, name) for name in ARRAYS})


def load_parameters(path: Path) -> MixtureParameters:
    """Parameters saved by :func:`save_parameters`."""
    with np.load(path, allow_pickle=False) as arrays:
        return MixtureParameters(*(arrays[name] for name in ARRAYS), str(arrays["covariance_type"]))


def main(argv: list[str]) -> int:
    command, *args = argv
    if command == "predict":
        model, data, target = args
        write_predictions(load_parameters(Path(model)), data, target, overwrite=True,
                          scheduler="synchronous")
        print("done", flush=True)
        return 0
    raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
