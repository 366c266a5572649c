"""Batch baseline for Japanese Vowels speaker identification: one scikit-learn GMM per speaker.

    .venv/bin/python benchmarks/bench_japanese_vowels_batch.py
    .venv/bin/python benchmarks/bench_japanese_vowels_batch.py --components 4,8 --covariance full

For each number of components K, fits ``sklearn.mixture.GaussianMixture`` (diagonal covariances
by default) on each of the 9 speakers' training frames, then assigns every test utterance to
the speaker whose model gives its frames the highest summed log-likelihood, and prints the
test accuracy (370 utterances). This is the reference the online model (one ``partial_fit``
pass per speaker) is compared with; issue 4 quotes about 0.98. Each K is fitted with a few
seeds (``--seeds``) to show how much the initialisation moves the accuracy.

Reads ``data/real/japanese_vowels.parquet`` (``python data/make_real_streams.py`` creates it).
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

from streamgmm.datasets import FrameTable, load_japanese_vowels


def fit_speaker_models(
    train: FrameTable, n_components: int, covariance_type: str, seed: int
) -> dict[int, GaussianMixture]:
    """One GMM per speaker, fitted on that speaker's training frames (~475 frames x 12)."""
    models = {}
    for speaker in np.unique(train.label):
        frames = train.X[train.label == speaker].astype(np.float64)
        models[int(speaker)] = GaussianMixture(
            n_components,
            covariance_type=covariance_type,
            n_init=1,
            reg_covar=1e-4,
            random_state=seed,
        ).fit(frames)
    return models


def utterance_accuracy(test: FrameTable, models: dict[int, GaussianMixture]) -> float:
    """Fraction of test utterances whose best speaker model (summed log-likelihood) is right."""
    speakers = np.array(sorted(models))
    # (n_frames, n_speakers) log-likelihoods, then summed per utterance.
    scores = np.column_stack([models[s].score_samples(test.X.astype(np.float64)) for s in speakers])
    _, first, inverse = np.unique(test.series, return_index=True, return_inverse=True)
    per_utterance = np.zeros((len(first), len(speakers)))
    np.add.at(per_utterance, inverse, scores)
    predicted = speakers[per_utterance.argmax(axis=1)]
    return float(np.mean(predicted == test.label[first]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--components", default="4,5,6,7,8", help="comma-separated K values")
    parser.add_argument(
        "--covariance", default="diag", choices=("diag", "full", "tied", "spherical")
    )
    parser.add_argument("--seeds", type=int, default=3, help="initialisation seeds per K")
    args = parser.parse_args(argv)

    # The matrices are tiny (~475 x 12): BLAS threads only wait for each other (10x slower on a
    # busy 2-core machine), so one thread it is.
    threadpool_limits(1)
    data = load_japanese_vowels()
    train, test = data.select("train"), data.select("test")
    print(
        f"Japanese Vowels: {train.n_frames} train frames "
        f"({len(np.unique(train.series))} utterances), {test.n_frames} test frames "
        f"({len(np.unique(test.series))} utterances), D={data.n_features}"
    )
    print(f"{'K':>3} {'covariance':>10} {'accuracy per seed':>28} {'mean':>6} {'fit s':>6}")
    for n_components in (int(k) for k in args.components.split(",")):
        accuracies = []
        start = time.perf_counter()
        for seed in range(args.seeds):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                models = fit_speaker_models(train, n_components, args.covariance, seed)
            accuracies.append(utterance_accuracy(test, models))
        elapsed = (time.perf_counter() - start) / args.seeds
        shown = " ".join(f"{a:.4f}" for a in accuracies)
        print(
            f"{n_components:>3} {args.covariance:>10} {shown:>28} "
            f"{np.mean(accuracies):6.4f} {elapsed:6.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
