"""streamgmm's BayesianGaussianMixture against scikit-learn's, side by side in one run.

    .venv/bin/python benchmarks/bench_bayesian.py                  # two shapes, a few minutes
    .venv/bin/python benchmarks/bench_bayesian.py --quick          # smoke test, seconds
    .venv/bin/python benchmarks/bench_bayesian.py --shapes 200000x16x16 --types full,diag
    .venv/bin/python benchmarks/bench_bayesian.py --json out.json

Measures, in one process:

1. The machine's large-matmul GFLOP/s (float64 and float32), the peak reference
   (``bench_core.measure_peak``, before and after the fits, the higher kept).
2. Per-iteration time of ``streamgmm.BayesianGaussianMixture`` and
   ``sklearn.mixture.BayesianGaussianMixture`` (Dirichlet-process prior, default
   priors) on the same data from the same start: both begin from the same
   responsibilities (one-hot k-means labels; streamgmm through
   ``responsibilities_init``, scikit-learn through its ``_initialize(X, resp)``,
   the step its own ``init_params`` ends with), ``tol=0`` and the same ``max_iter``.
   The ratio, streamgmm's GFLOP/s and fraction of the peak, and — beside it —
   the same ratio for ``GaussianMixture`` on the same data (``bench_core``'s
   measurement: the variational update should cost no more than the M-step).
3. The same answer: the largest relative difference of every fitted parameter
   (``weight_concentration_``, ``mean_precision_``, ``means_``,
   ``degrees_of_freedom_``, ``covariances_``, ``precisions_cholesky_``) and of the
   lower bound, against scikit-learn's float64 fit after the same iterations.
   Per parameter: max |ours - sklearn| / max |sklearn|.

Per-iteration time is the median lapse of iterations 2..n printed by ``verbose=2``
(the same format in both libraries), as in ``bench_core.py``; scikit-learn is timed
with BLAS on 1 thread and on its default threads and the faster kept.

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402
import bench_core as core  # noqa: E402  (one home for the fit timing and the peak)

FULL = {
    "shapes": [(200_000, 16, 16), (100_000, 32, 16)],
    "max_iter": 6,
    "sklearn_threads": "best",
    "matmul_n": 4096,
    "matmul_repeats": 3,
}
QUICK = {
    "shapes": [(10_000, 8, 6)],
    "max_iter": 3,
    "sklearn_threads": "1",
    "matmul_n": 512,
    "matmul_repeats": 2,
}
# (covariance_type, dtype), in the order they run; float32 only for full.
CASES = [("full", "float64"), ("full", "float32"), ("diag", "float64"), ("tied", "float64"),
         ("spherical", "float64")]
PARAMETERS = ("weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
              "covariances_", "precisions_cholesky_")
SAME_ANSWER_RTOL = {"float64": 1e-6, "float32": 1e-3}


# ======================================================================= start
def kmeans_responsibilities(X: np.ndarray, n_components: int, seed: int,
                            sample_size: int = 20_000) -> np.ndarray:
    """One-hot responsibilities (N, K) of k-means fitted on a sample and applied to every row.

    scikit-learn's ``init_params="kmeans"`` does the same on all rows; a sample keeps
    the set-up cheap. Both libraries then start from exactly these responsibilities.
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(len(X), size=min(len(X), sample_size), replace=False))
    kmeans = KMeans(n_clusters=n_components, n_init=1, max_iter=20, random_state=seed)
    labels = kmeans.fit(np.asarray(X[rows], dtype=np.float64)).predict(
        np.asarray(X, dtype=np.float64))
    resp = np.zeros((len(X), n_components))
    resp[np.arange(len(X)), labels] = 1.0
    return resp


def bayesian_params(n_components: int, covariance_type: str, max_iter: int) -> dict[str, Any]:
    """The constructor parameters both libraries get (scikit-learn's defaults otherwise)."""
    return {"n_components": n_components, "covariance_type": covariance_type, "tol": 0.0,
            "max_iter": max_iter, "n_init": 1, "random_state": 0,
            "weight_concentration_prior_type": "dirichlet_process",
            "verbose": 2, "verbose_interval": 1}


def sklearn_from_responsibilities(resp: np.ndarray, **params: Any) -> Any:
    """scikit-learn's BayesianGaussianMixture that starts from ``resp``.

    Its ``_initialize_parameters`` computes responsibilities by ``init_params`` and
    hands them to ``_initialize(X, resp)``; this instance skips straight to that step.
    Only this instance is changed, not the class.
    """
    from sklearn.mixture import BayesianGaussianMixture as SkBGM

    model = SkBGM(**params)
    model._initialize_parameters = lambda X, random_state, **_: model._initialize(
        X, resp.astype(X.dtype, copy=False))
    # scikit-learn's tied lower bound is a 1-element array, which its own verbose
    # iteration line cannot format; the same number as a float.
    lower_bound = model._compute_lower_bound
    model._compute_lower_bound = lambda *a: float(np.squeeze(lower_bound(*a)))
    return model


# ======================================================================= compare
def parameter_differences(ours: Any, reference: Any) -> dict[str, float]:
    """Per fitted parameter: max |ours - reference| / max |reference| (tuples flattened)."""
    out = {}
    for name in PARAMETERS:
        a, b = getattr(ours, name), getattr(reference, name)
        if isinstance(b, tuple):  # the Dirichlet process's (alpha, beta) pair
            a, b = np.concatenate([np.ravel(v) for v in a]), np.concatenate(
                [np.ravel(v) for v in b])
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        if a.shape != b.shape:
            out[name] = float("inf")
            continue
        out[name] = float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
    out["lower_bound_"] = core.rel_diff(float(ours.lower_bound_), float(reference.lower_bound_))
    return out


# ======================================================================= fits
def timed_sklearn_bayesian(X: np.ndarray, resp: np.ndarray, params: dict[str, Any],
                           thread_configs: list[int | None]) -> tuple[dict[str, Any], Any]:
    """scikit-learn's BayesianGaussianMixture at its best BLAS setting, and a fitted model."""
    fitted: dict[int | None, Any] = {}

    def fit_once(threads: int | None, give_up: Callable[[int, float], bool] | None
                 ) -> dict[str, Any]:
        model = sklearn_from_responsibilities(resp, **params)
        run = core.time_model_fit(model, X, blas_threads=threads, give_up=give_up)
        if run["gave_up"] is None:
            fitted[threads] = model
        return run

    best = core.best_of_blas_threads(fit_once, thread_configs)
    # Any finished run serves for the parameters: the thread count changes only rounding.
    return best, next(iter(fitted.values()))


def run_cases(config: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    from streamgmm import BayesianGaussianMixture as SgBGM
    from streamgmm import GaussianMixture as SgGMM

    max_iter = args.max_iter or config["max_iter"]
    types = set(args.types.split(","))
    sk_threads = {"best": [1, None], "default": [None], "1": [1]}[
        args.sklearn_threads or config["sklearn_threads"]]
    results = []
    for n, d, k in args.shapes or config["shapes"]:
        print(f"\n-- data N={n:,} D={d} K={k} (seed {args.seed}) --", flush=True)
        X64 = common.make_mixture_data(n, d, k, seed=args.seed)
        X32 = X64.astype(np.float32)
        resp = kmeans_responsibilities(X64, k, args.seed)
        reference_by_type: dict[str, Any] = {}
        for covariance_type, dtype in CASES:
            if covariance_type not in types or (dtype == "float32" and args.no_float32):
                continue
            X = X32 if dtype == "float32" else X64
            label = f"{covariance_type}/{dtype}"
            params = bayesian_params(k, covariance_type, max_iter)
            print(f"   {label:<18} sklearn Bayesian ...", end="", flush=True)
            sk, sk_model = timed_sklearn_bayesian(X, resp, params, sk_threads)
            print(f" {sk['per_iter_s']:.3f} s/iter ({core.thread_runs_text(sk)}); streamgmm ...",
                  end="", flush=True)
            ours = SgBGM(responsibilities_init=resp, dtype=dtype, **params)
            sg = core.time_model_fit(ours, X)
            print(f" {sg['per_iter_s']:.3f} s/iter", flush=True)
            if dtype == "float64":
                reference_by_type[covariance_type] = sk_model
            reference = reference_by_type.get(covariance_type, sk_model)
            differences = parameter_differences(ours, reference)
            sk_differences = parameter_differences(sk_model, reference)

            gmm = None
            if not args.no_gmm:
                print(f"   {label:<18} GaussianMixture: sklearn ...", end="", flush=True)
                init = common.quick_init(X64, k, covariance_type, seed=args.seed)
                gmm_sk = core.timed_sklearn_fit(X, init, covariance_type, max_iter, sk_threads)
                gmm_sg = core.timed_fit(SgGMM, X, init, covariance_type, max_iter, dtype=dtype)
                gmm = {"sklearn_per_iter_s": gmm_sk["per_iter_s"],
                       "streamgmm_per_iter_s": gmm_sg["per_iter_s"],
                       "ratio": gmm_sk["per_iter_s"] / gmm_sg["per_iter_s"]}
                print(f" {gmm_sk['per_iter_s']:.3f}, streamgmm {gmm_sg['per_iter_s']:.3f} s/iter",
                      flush=True)

            flops = common.flops_per_iteration(covariance_type, n, d, k)
            worst = max(v for name, v in differences.items() if name != "lower_bound_")
            results.append({
                "case": label, "covariance_type": covariance_type, "dtype": dtype,
                "n_samples": n, "n_features": d, "n_components": k,
                "sklearn": sk, "streamgmm": sg,
                "ratio": sk["per_iter_s"] / sg["per_iter_s"],
                "gaussian_mixture": gmm,
                "flops_per_iter": flops,
                "streamgmm_gflops": flops / sg["per_iter_s"] / 1e9 if flops else None,
                "sklearn_gflops": flops / sk["per_iter_s"] / 1e9 if flops else None,
                "peak_gflops": None, "streamgmm_fraction_of_peak": None,  # core.add_peak
                "n_components_in_use": int(ours.n_active_components_),
                "parameter_rel_diff": differences,
                "sklearn_parameter_rel_diff": sk_differences,
                "max_parameter_rel_diff": worst,
                "same_answer": bool(worst <= SAME_ANSWER_RTOL[dtype]
                                    and differences["lower_bound_"] <= SAME_ANSWER_RTOL[dtype]),
            })
        del X64, X32, resp
        gc.collect()
    return results


# ===================================================================== report
def print_table(results: list[dict[str, Any]], peaks: dict[str, float]) -> None:
    headers = ["case", "N", "D", "K", "iters", "sk BLAS thr", "sklearn s/it", "streamgmm s/it",
               "ratio", "GMM ratio", "sg GFLOP/s", "% peak", "max param rel.diff",
               "LB rel.diff", "in use", "same"]
    rows = []
    for r in results:
        gmm = r["gaussian_mixture"]
        rows.append([
            r["case"], f"{r['n_samples']:,}", r["n_features"], r["n_components"],
            r["streamgmm"]["n_iter"], r["sklearn"]["blas_threads"],
            common.fmt_seconds(r["sklearn"]["per_iter_s"]),
            common.fmt_seconds(r["streamgmm"]["per_iter_s"]),
            f"{r['ratio']:.2f}x", f"{gmm['ratio']:.2f}x" if gmm else "n/a",
            f"{r['streamgmm_gflops']:.1f}" if r["streamgmm_gflops"] else "n/a",
            f"{100 * r['streamgmm_fraction_of_peak']:.1f}%" if r["streamgmm_gflops"] else "n/a",
            f"{r['max_parameter_rel_diff']:.1e}",
            f"{r['parameter_rel_diff']['lower_bound_']:.1e}",
            r["n_components_in_use"], "yes" if r["same_answer"] else "NO",
        ])
    print(common.format_table(headers, rows, "lrrrrrrrrrrrrrrl"))
    print(f"ratio = sklearn s/iter / streamgmm s/iter for BayesianGaussianMixture; GMM ratio = "
          f"the same for GaussianMixture on the same data (bench_core's measurement). GFLOP/s "
          f"from 4*N*K*D^2 (full) and 8*N*K*D (diag) per iteration; % of the matmul peak "
          f"({peaks['float64']:.1f} GFLOP/s float64, {peaks['float32']:.1f} float32). "
          f"param rel.diff = max over the fitted parameters of max|ours - sklearn| / "
          f"max|sklearn| (sklearn float64 after the same iterations); same = within "
          f"{SAME_ANSWER_RTOL['float64']:g} (float64) / {SAME_ANSWER_RTOL['float32']:g} (float32).")


def summary_line(r: dict[str, Any]) -> str:
    sk, sg, gmm = r["sklearn"], r["streamgmm"], r["gaussian_mixture"]
    worst = max((v, name) for name, v in r["parameter_rel_diff"].items()
                if name != "lower_bound_")
    line = (f"[bayesian {r['case']} N={r['n_samples']:,} D={r['n_features']} "
            f"K={r['n_components']}] ratio sklearn/streamgmm = {r['ratio']:.2f}x per iteration "
            f"({sk['per_iter_s']:.4f} vs {sg['per_iter_s']:.4f} s/iter)")
    if gmm:
        line += f"; GaussianMixture {gmm['ratio']:.2f}x"
    if r["streamgmm_gflops"]:
        line += (f"; streamgmm {r['streamgmm_gflops']:.1f} GFLOP/s = "
                 f"{100 * r['streamgmm_fraction_of_peak']:.1f}% of {r['dtype']} matmul peak")
    line += (f"; max parameter rel.diff {worst[0]:.1e} ({worst[1]}), lower bound "
             f"{r['parameter_rel_diff']['lower_bound_']:.1e} vs sklearn float64")
    if r["dtype"] == "float32":
        line += (f" (sklearn on the same float32 data: "
                 f"{max(r['sklearn_parameter_rel_diff'].values()):.1e})")
    line += "" if r["same_answer"] else "  <-- MISMATCH: not the same answer"
    return line


# ======================================================================= main
def _shape(text: str) -> tuple[int, int, int]:
    try:
        n, d, k = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give NxDxK, e.g. 200000x16x16") from None
    return n, d, k


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="tiny data: a smoke test")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    parser.add_argument("--shapes", type=lambda s: [_shape(v) for v in s.split(",")],
                        help="NxDxK,... (default 200000x16x16,100000x32x16)")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="iterations per fit, both libraries (default 6, --quick 3)")
    parser.add_argument("--sklearn-threads", choices=["best", "default", "1"], default=None)
    parser.add_argument("--types", default="full,diag,tied,spherical")
    parser.add_argument("--no-float32", action="store_true")
    parser.add_argument("--no-gmm", action="store_true",
                        help="skip the GaussianMixture ratio printed beside")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.max_iter is not None and args.max_iter < 2:
        parser.error("--max-iter must be at least 2 (iteration 1 includes initialisation)")
    core.check_types(parser, args.types)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = common.machine_summary()
    core.print_header(machine, argparse.Namespace(quick=args.quick, chunk_size=16384), config)
    print("(BayesianGaussianMixture; both libraries start from the same responsibilities)")
    print("\n== 1. peak reference ==", flush=True)
    before = core.measure_peak(config, "before the fits")
    print(f"\n== 2. variational iterations: same data, same start, tol=0, max_iter="
          f"{args.max_iter or config['max_iter']} (both) ==", flush=True)
    results = run_cases(config, args)
    print()
    after = core.measure_peak(config, "peak reference after the fits")
    peaks = core.higher_peaks(before, after)
    core.add_peak(results, peaks)
    print()
    print_table(results, peaks)
    print()
    for r in results:
        print(summary_line(r))
    elapsed = time.perf_counter() - started
    print("\n" + core.load_line("load average at end"))
    print(f"total benchmark time {elapsed:.0f} s")
    if args.json:
        report = {"quick": args.quick, "machine": machine, "git": common.git_revision(),
                  "matmul": {"before": before, "after": after, "peak": peaks},
                  "fits": results, "elapsed_s": elapsed, "argv": sys.argv[1:]}
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
