"""A checkpointed out-of-core fit in its own process, for the kill-and-resume tests.

    python ooc_fit_process.py DATA CHECKPOINT RESULT [MAX_ITER]

Fits the Zarr dataset DATA with a checkpoint in CHECKPOINT on the synchronous scheduler (one
pass per iteration, chunk by chunk), printing "  Iteration n" after every iteration (verbose=1,
verbose_interval=1), and writes the fitted arrays to RESULT (.npz, written then renamed) at the
end. The estimator settings are in :func:`make_estimator` so the test builds the very same
uninterrupted fit.
"""

from __future__ import annotations

import os
import sys

import numpy as np

from streamgmm import GaussianMixture


def make_estimator(max_iter: int, **overrides) -> GaussianMixture:
    params = dict(
        n_components=3,
        covariance_type="full",
        tol=0.0,  # never converge early: run exactly max_iter iterations
        max_iter=max_iter,
        random_state=7,
        scheduler="synchronous",
        verbose=1,
        verbose_interval=1,
    )
    params.update(overrides)
    return GaussianMixture(**params)


def main(argv: list[str]) -> int:
    data, checkpoint, result = argv[:3]
    max_iter = int(argv[3]) if len(argv) > 3 else 20
    print("started", flush=True)
    model = make_estimator(max_iter).fit(data, checkpoint=checkpoint)
    temporary = result + ".tmp.npz"
    np.savez(
        temporary,
        weights=model.weights_,
        means=model.means_,
        covariances=model.covariances_,
        precisions_cholesky=model.precisions_cholesky_,
        lower_bounds=np.asarray(model.lower_bounds_),
        n_iter=model.n_iter_,
    )
    os.replace(temporary, result)
    print("done", flush=True)
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    sys.exit(main(sys.argv[1:]))
