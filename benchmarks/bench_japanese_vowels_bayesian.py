"""Japanese Vowels speaker identification with Bayesian mixtures: streamgmm against scikit-learn.

    .venv/bin/python benchmarks/bench_japanese_vowels_bayesian.py
    .venv/bin/python benchmarks/bench_japanese_vowels_bayesian.py --components 16 --covariance full

The sibling of ``bench_japanese_vowels_batch.py`` (whose classifier it shares): one
Dirichlet-process ``BayesianGaussianMixture`` per speaker (9 speakers, ~475 training
frames x 12 each) with K components as an upper bound, and every test utterance
assigned to the speaker whose model gives its frames the highest summed
log-likelihood (370 utterances). streamgmm's and scikit-learn's estimators start each
speaker from the same responsibilities (one-hot k-means labels, seeded), so the two
accuracies should be equal; the components each speaker's model keeps in use (expected
weight >= streamgmm's ``weight_threshold``) are printed per speaker, beside the accuracy
of ``GaussianMixture`` with the same K (the batch baseline). Each K runs a few seeds.

Reads ``data/real/japanese_vowels.parquet``.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_bayesian import kmeans_responsibilities, sklearn_from_responsibilities  # noqa: E402
from bench_japanese_vowels_batch import fit_speaker_models, utterance_accuracy  # noqa: E402

from streamgmm import BayesianGaussianMixture  # noqa: E402
from streamgmm.datasets import FrameTable, load_japanese_vowels  # noqa: E402

#: Shared by both libraries (the batch baseline's reg_covar: ~475 frames per speaker).
PARAMS = {"reg_covar": 1e-4, "tol": 1e-4, "max_iter": 1000, "n_init": 1,
          "weight_concentration_prior_type": "dirichlet_process"}


def fit_bayesian_models(train: FrameTable, n_components: int, covariance_type: str,
                        seed: int) -> tuple[dict[int, Any], dict[int, Any]]:
    """Per speaker: (streamgmm models, scikit-learn models), each pair from the same start."""
    ours, theirs = {}, {}
    for speaker in np.unique(train.label):
        frames = train.X[train.label == speaker].astype(np.float64)
        resp = kmeans_responsibilities(frames, n_components, seed)
        params = {"n_components": n_components, "covariance_type": covariance_type,
                  "random_state": seed, **PARAMS}
        ours[int(speaker)] = BayesianGaussianMixture(responsibilities_init=resp,
                                                     **params).fit(frames)
        theirs[int(speaker)] = sklearn_from_responsibilities(resp, **params).fit(frames)
    return ours, theirs


def in_use(model: Any, threshold: float) -> int:
    """Components with expected weight >= threshold (scikit-learn has no such attribute)."""
    return int(np.sum(model.weights_ >= threshold))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", default="8,16", help="comma-separated upper bounds K")
    parser.add_argument("--covariance", default="diag",
                        choices=("diag", "full", "tied", "spherical"))
    parser.add_argument("--seeds", type=int, default=3, help="initialisation seeds per K")
    args = parser.parse_args(argv)

    threadpool_limits(1)  # tiny matrices: BLAS threads only wait for each other
    data = load_japanese_vowels()
    train, test = data.select("train"), data.select("test")
    speakers = [int(s) for s in np.unique(train.label)]
    print(f"Japanese Vowels: {train.n_frames} train frames, {test.n_frames} test frames "
          f"({len(np.unique(test.series))} utterances), D={data.n_features}, "
          f"{len(speakers)} speakers; {args.covariance} covariance")
    for n_components in (int(k) for k in args.components.split(",")):
        rows = []
        started = time.perf_counter()
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                ours, theirs = fit_bayesian_models(train, n_components, args.covariance, seed)
                baseline = fit_speaker_models(train, n_components, args.covariance, seed)
            threshold = next(iter(ours.values())).weight_threshold
            rows.append({
                "seed": seed,
                "ours": utterance_accuracy(test, ours),
                "sklearn": utterance_accuracy(test, theirs),
                "gmm": utterance_accuracy(test, baseline),
                "ours_in_use": [int(ours[s].n_active_components_) for s in speakers],
                "sklearn_in_use": [in_use(theirs[s], threshold) for s in speakers],
                "max_weight_diff": max(float(np.max(np.abs(ours[s].weights_ - theirs[s].weights_)))
                                       for s in speakers),
            })
        elapsed = (time.perf_counter() - started) / args.seeds
        print(f"\nK <= {n_components} ({elapsed:.1f} s per seed; in use = expected weight >= "
              f"{threshold:g})")
        print(f"{'seed':>4} {'streamgmm':>9} {'sklearn':>8} {'GMM K':>6}  "
              f"{'in use per speaker (streamgmm)':<32} {'(sklearn)':<28} max |w diff|")
        for r in rows:
            print(f"{r['seed']:>4} {r['ours']:9.4f} {r['sklearn']:8.4f} {r['gmm']:6.4f}  "
                  f"{' '.join(map(str, r['ours_in_use'])):<32} "
                  f"{' '.join(map(str, r['sklearn_in_use'])):<28} {r['max_weight_diff']:.1e}")
        mean = {key: np.mean([r[key] for r in rows]) for key in ("ours", "sklearn", "gmm")}
        print(f"[japanese vowels bayesian K<={n_components} {args.covariance}] accuracy "
              f"streamgmm {mean['ours']:.4f}, scikit-learn {mean['sklearn']:.4f}, "
              f"GaussianMixture K={n_components} {mean['gmm']:.4f} (mean of {args.seeds} seeds); "
              f"components in use per speaker {np.mean([r['ours_in_use'] for r in rows]):.1f} "
              f"on average (streamgmm), "
              f"{np.mean([r['sklearn_in_use'] for r in rows]):.1f} (scikit-learn)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
