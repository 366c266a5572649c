"""streamgmm's core EM against scikit-learn, side by side in one run.

    .venv/bin/python benchmarks/bench_core.py            # full run, a few minutes on 2 cores
    .venv/bin/python benchmarks/bench_core.py --quick    # smoke test, seconds
    .venv/bin/python benchmarks/bench_core.py --json out.json

Measures, in one process (plus two fresh subprocesses for memory):

1. The machine's large-matmul GFLOP/s (float64 and float32), the peak reference.
2. Per-EM-iteration time of ``streamgmm.GaussianMixture`` and
   ``sklearn.mixture.GaussianMixture`` on the same data from the same initial
   parameters (``weights_init``, ``means_init``, ``precisions_init``), ``tol=0`` and a
   fixed ``max_iter``; the ratio; streamgmm's GFLOP/s and fraction of the peak; and
   the relative difference of the two lower bounds (same answer, not just fast).
3. Peak memory of ``predict_proba`` over many rows, above its input and output.

Per-iteration time: both estimators run with ``verbose=2, verbose_interval=1``,
which prints the wall time of every iteration (same format in both libraries).
The first iteration's lapse includes initialisation and is dropped; the median of
the others is the per-iteration time. So neither sklearn's initial parameter
estimate nor its final extra E-step is counted. ``fit`` wall time / ``n_iter_`` is
reported as well (JSON and summary lines).

See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import io
import json
import re
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402


FULL = {
    "shapes": [(200_000, 16, 16), (100_000, 32, 16)],
    "max_iter": 10,
    "sklearn_max_iter": 5,  # scikit-learn is slow; per-iteration time is what is compared
    "sklearn_threads": "best",
    "matmul_n": 4096,
    "matmul_repeats": 3,
    "predict_rows": 1_000_000,
    "predict_shape": (16, 16),
}
QUICK = {
    "shapes": [(20_000, 16, 16), (10_000, 32, 16)],
    "max_iter": 3,
    "sklearn_max_iter": 3,
    "sklearn_threads": "1",  # one fit per case: seconds, even on a busy machine
    "matmul_n": 1024,
    "matmul_repeats": 3,
    "predict_rows": 100_000,
    "predict_shape": (16, 16),
}
# (covariance_type, dtype): float32 is only run for "full"; tied and spherical are extras.
CASES = [("full", "float64"), ("full", "float32"), ("diag", "float64"), ("tied", "float64"),
         ("spherical", "float64")]
GIVE_UP_FACTOR = 2.0
SAME_ANSWER_RTOL = {"float64": 1e-6, "float32": 1e-4}
ITERATION_LINE = re.compile(r"Iteration\s+(\d+)\s+time lapse\s+([0-9.eE+-]+)s")


# ======================================================================= fits
class _GaveUp(Exception):
    """Raised from inside ``fit`` (through its verbose output) to stop a losing run."""


class _IterationLog(io.StringIO):
    """Captures the verbose output; ``check(iteration, lapse)`` may stop the fit."""

    def __init__(self, check: Callable[[int, float], bool] | None) -> None:
        super().__init__()
        self.check = check
        self.lapses: dict[int, float] = {}

    def write(self, text: str) -> int:
        n = super().write(text)
        for i, lapse in ITERATION_LINE.findall(text):
            self.lapses[int(i)] = float(lapse)
            if self.check is not None and self.check(int(i), float(lapse)):
                raise _GaveUp(f"iteration {i} took {float(lapse):.3f} s")
        return n


def timed_fit(estimator_class: type, X: np.ndarray, init: dict[str, np.ndarray],
              covariance_type: str, max_iter: int, blas_threads: int | None = None,
              give_up: Callable[[int, float], bool] | None = None,
              **extra: Any) -> dict[str, Any]:
    """Fit from ``init`` for exactly ``max_iter`` iterations; per-iteration timings.

    ``blas_threads`` limits BLAS threads during the fit (None: library default).
    ``give_up(iteration, lapse)`` returning True stops the fit after that iteration;
    the result then has ``gave_up`` set and no per-iteration time or lower bound.
    """
    model = estimator_class(
        n_components=init["means_init"].shape[0],
        covariance_type=covariance_type,
        tol=0.0,
        max_iter=max_iter,
        init_params="random_from_data",  # cheapest; ignored when all three inits are given
        verbose=2,
        verbose_interval=1,
        **init,
        **extra,
    )
    return time_model_fit(model, X, blas_threads, give_up)


def time_model_fit(model: Any, X: np.ndarray, blas_threads: int | None = None,
                   give_up: Callable[[int, float], bool] | None = None) -> dict[str, Any]:
    """Fit an estimator made with ``verbose=2, verbose_interval=1``; per-iteration timings.

    The fitted ``model`` is fitted in place; see :func:`timed_fit` for the rest.
    """
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    log = _IterationLog(give_up)
    gc.collect()
    with warnings.catch_warnings(), contextlib.redirect_stdout(log), \
            threadpool_limits(limits=blas_threads, user_api="blas"):
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: never converges, by design
        start = time.perf_counter()
        try:
            model.fit(X)
        except _GaveUp as stopped:
            return {"gave_up": str(stopped), "per_iter_s": None,
                    "wall_s": time.perf_counter() - start,
                    "iteration_lapses_s": [log.lapses[i] for i in sorted(log.lapses)]}
        wall = time.perf_counter() - start
    lapses = log.lapses
    steady = [lapses[i] for i in sorted(lapses) if i >= 2]
    n_iter = int(model.n_iter_)
    per_iter = float(np.median(steady)) if steady else wall / max(n_iter, 1)
    lower_bounds = list(getattr(model, "lower_bounds_", []) or [model.lower_bound_])
    return {
        "gave_up": None,
        "n_iter": n_iter,
        "wall_s": wall,
        "wall_per_iter_s": wall / max(n_iter, 1),
        "iteration_lapses_s": [lapses[i] for i in sorted(lapses)],
        "per_iter_s": per_iter,
        "per_iter_method": "median lapse of iterations 2..n" if steady else "fit wall / n_iter_",
        "lower_bound": float(model.lower_bound_),
        "lower_bounds": [float(v) for v in lower_bounds],
    }


def default_blas_threads() -> int:
    return max((p["num_threads"] or 1 for p in common.blas_info() if p["user_api"] == "blas"),
               default=1)


def timed_sklearn_fit(X: np.ndarray, init: dict[str, np.ndarray], covariance_type: str,
                      max_iter: int, thread_configs: list[int | None]) -> dict[str, Any]:
    """scikit-learn's ``GaussianMixture`` at its best BLAS thread setting (see :func:`best_of_blas_threads`)."""
    from sklearn.mixture import GaussianMixture as SkGMM

    def fit_once(threads: int | None, give_up: Callable[[int, float], bool] | None
                 ) -> dict[str, Any]:
        return timed_fit(SkGMM, X, init, covariance_type, max_iter, blas_threads=threads,
                         give_up=give_up)

    return best_of_blas_threads(fit_once, thread_configs)


def best_of_blas_threads(
    fit_once: Callable[[int | None, Callable[[int, float], bool] | None], dict[str, Any]],
    thread_configs: list[int | None],
) -> dict[str, Any]:
    """scikit-learn at its best: one fit per BLAS thread setting, the fastest kept.

    ``fit_once(threads, give_up)`` fits once and returns :func:`time_model_fit`'s
    result. Its multi-threaded BLAS calls are small; on a shared machine their
    threads can wait on each other for far longer than the work takes, and one
    thread can win. A later setting is stopped as soon as one of its iterations
    takes more than GIVE_UP_FACTOR times the same iteration of the best run so far
    (it cannot win, and under load it could take minutes).
    """
    runs: list[dict[str, Any]] = []
    for threads in thread_configs:
        finished = [run for run in runs if run["gave_up"] is None]
        give_up = None
        if finished:
            reference = min(finished, key=lambda run: run["per_iter_s"])

            def give_up(i: int, lapse: float, ref: dict[str, Any] = reference) -> bool:
                ref_lapses = ref["iteration_lapses_s"]
                ref_lapse = ref_lapses[i - 1] if i <= len(ref_lapses) else ref["per_iter_s"]
                return lapse > GIVE_UP_FACTOR * ref_lapse

        run = fit_once(threads, give_up)
        run["blas_threads"] = threads or default_blas_threads()
        runs.append(run)
    finished = [run for run in runs if run["gave_up"] is None]
    best = dict(min(finished, key=lambda run: run["per_iter_s"]))
    best["per_iter_s_by_blas_threads"] = {str(run["blas_threads"]): run["per_iter_s"]
                                          for run in runs}
    best["other_blas_thread_runs"] = [run for run in runs if run["blas_threads"]
                                      != best["blas_threads"]]
    return best


def thread_runs_text(best: dict[str, Any]) -> str:
    """``"1 BLAS thr 0.700, 2 BLAS thr stopped, >2x slower"``: what :func:`best_of_blas_threads` tried."""
    return ", ".join(
        f"{t} BLAS thr " + (f"{s:.3f}" if s is not None else f"stopped, >{GIVE_UP_FACTOR:g}x slower")
        for t, s in best["per_iter_s_by_blas_threads"].items())


def higher_peaks(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]
                 ) -> dict[str, float]:
    """dtype -> the higher of two :func:`measure_peak` GFLOP/s (one may land in a busy moment)."""
    return {name: max(before[name]["gflops"], after[name]["gflops"])
            for name in ("float64", "float32")}


def add_peak(results: list[dict[str, Any]], peaks: dict[str, float]) -> None:
    for r in results:
        r["peak_gflops"] = peaks[r["dtype"]]
        if r["streamgmm_gflops"]:
            r["streamgmm_fraction_of_peak"] = r["streamgmm_gflops"] / r["peak_gflops"]


def measure_peak(config: dict[str, Any], when: str) -> dict[str, dict[str, Any]]:
    matmul = {np.dtype(dt).name: common.matmul_gflops(config["matmul_n"],
                                                      config["matmul_repeats"], dt)
              for dt in (np.float64, np.float32)}
    print(f"{when}: float64 matmul {matmul['float64']['gflops']:.1f} GFLOP/s, float32 matmul "
          f"{matmul['float32']['gflops']:.1f} GFLOP/s", flush=True)
    return matmul


def lower_bound_at(result: dict[str, Any], n_iter: int) -> float:
    """Lower bound after ``n_iter`` iterations (runs may differ in length)."""
    bounds = result["lower_bounds"]
    if len(bounds) >= n_iter:
        return bounds[n_iter - 1]
    return result["lower_bound"]


def rel_diff(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def run_fit_cases(config: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    from streamgmm import GaussianMixture as SgGMM

    sg_iter = args.max_iter or config["max_iter"]
    sk_iter = args.sklearn_max_iter or config["sklearn_max_iter"]
    types = set(args.types.split(","))
    sk_threads = {"best": [1, None], "default": [None], "1": [1]}[
        args.sklearn_threads or config["sklearn_threads"]]
    results = []
    for n, d, k in config["shapes"]:
        print(f"\n-- data N={n:,} D={d} K={k} (seed {args.seed}) --", flush=True)
        X64 = common.make_mixture_data(n, d, k, seed=args.seed)
        X32 = X64.astype(np.float32)
        sk64_by_type: dict[str, dict[str, Any]] = {}
        inits: dict[str, dict[str, np.ndarray]] = {}
        for covariance_type, dtype in CASES:
            if covariance_type not in types or (dtype == "float32" and args.no_float32):
                continue
            if covariance_type not in inits:
                inits[covariance_type] = common.quick_init(X64, k, covariance_type, seed=args.seed)
            init = inits[covariance_type]
            X = X32 if dtype == "float32" else X64
            label = f"{covariance_type}/{dtype}"
            print(f"   {label:<18} sklearn ...", end="", flush=True)
            sk = timed_sklearn_fit(X, init, covariance_type, sk_iter, sk_threads)
            tried = thread_runs_text(sk)
            print(f" {sk['per_iter_s']:.3f} s/iter ({tried}); streamgmm ...", end="", flush=True)
            sg = timed_fit(SgGMM, X, init, covariance_type, sg_iter, dtype=dtype)
            sg["worker_threads"] = common.available_cores()  # n_jobs=None; BLAS 1 per worker
            print(f" {sg['per_iter_s']:.3f} s/iter", flush=True)
            if dtype == "float64":
                sk64_by_type[covariance_type] = sk

            common_iter = min(sk["n_iter"], sg["n_iter"])
            sg_lb = lower_bound_at(sg, common_iter)
            # Same answer: against scikit-learn's float64 fit (the exact reference) when
            # there is one, so float32 rows show what float32 costs in accuracy.
            reference = sk64_by_type.get(covariance_type, sk)
            reference_lb = lower_bound_at(reference, common_iter)
            lb_rel = rel_diff(sg_lb, reference_lb)
            sk_vs_reference = rel_diff(lower_bound_at(sk, common_iter), reference_lb)
            flops = common.flops_per_iteration(covariance_type, n, d, k)
            sg_gflops = flops / sg["per_iter_s"] / 1e9 if flops else None
            sk_gflops = flops / sk["per_iter_s"] / 1e9 if flops else None
            results.append({
                "case": label,
                "covariance_type": covariance_type,
                "dtype": dtype,
                "n_samples": n,
                "n_features": d,
                "n_components": k,
                "sklearn": sk,
                "streamgmm": sg,
                "ratio": sk["per_iter_s"] / sg["per_iter_s"],
                "flops_per_iter": flops,
                "streamgmm_gflops": sg_gflops,
                "sklearn_gflops": sk_gflops,
                "peak_gflops": None,  # filled in by add_peak() once the peak is known
                "streamgmm_fraction_of_peak": None,
                "compared_at_iteration": common_iter,
                "lower_bound_reference": "sklearn float64",
                "lower_bound_rel_diff": lb_rel,
                "sklearn_lower_bound_rel_diff": sk_vs_reference,
                "same_answer": bool(lb_rel <= SAME_ANSWER_RTOL[dtype]),
            })
        del X64, X32
        gc.collect()
    return results


# ===================================================================== memory
def predict_memory_worker(library: str, n_rows: int, n_features: int, n_components: int,
                          chunk_size: int, seed: int) -> dict[str, Any]:
    """Run in a fresh process: peak memory of ``predict_proba`` over ``n_rows`` rows."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    if library == "streamgmm":
        from streamgmm import GaussianMixture

        extra: dict[str, Any] = {"chunk_size": chunk_size}
    else:
        from sklearn.mixture import GaussianMixture

        extra = {}
    X = common.make_mixture_data(n_rows, n_features, n_components, seed=seed)
    init = common.quick_init(X, n_components, "full", seed=seed)
    model = GaussianMixture(n_components, covariance_type="full", tol=0.0, max_iter=2,
                            init_params="random_from_data", **init, **extra)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X[: min(n_rows, 20_000)])
    model.predict_proba(X[: 3 * chunk_size])  # warm-up: thread pools, BLAS buffers
    gc.collect()
    common.release_free_memory()  # freed-but-retained heap would hide reused temporaries
    with common.PeakRSS() as peak:
        proba = model.predict_proba(X)
    working = peak.increase_bytes - proba.nbytes
    chunk_bytes = chunk_size * (n_features + n_components) * 8
    return {
        "library": library,
        "n_rows": n_rows,
        "input_bytes": int(X.nbytes),
        "output_bytes": int(proba.nbytes),
        "rss_before_bytes": int(peak.start_bytes),
        "peak_increase_bytes": int(peak.increase_bytes),
        "working_bytes": int(working),
        "chunk_size": chunk_size,
        "chunk_bytes": int(chunk_bytes),
        "working_in_chunks": working / chunk_bytes,
        "method": peak.method,
        "n_jobs": common.available_cores() if library == "streamgmm" else None,
    }


def run_memory(config: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    d, k = config["predict_shape"]
    rows = []
    for library in ("streamgmm", "sklearn"):
        print(f"   predict_proba memory, {library}, fresh subprocess ...", flush=True)
        rows.append(common.run_in_fresh_process(
            "bench_core", "predict_memory_worker",
            {"library": library, "n_rows": config["predict_rows"], "n_features": d,
             "n_components": k, "chunk_size": args.chunk_size, "seed": args.seed},
        ))
    return rows


# ===================================================================== report
def load_line(what: str) -> str:
    try:
        one, five, _ = __import__("os").getloadavg()
    except OSError:
        return f"{what}: unknown"
    cores = common.available_cores()
    line = f"{what}: {one:.2f} (1 min), {five:.2f} (5 min) on {cores} cores"
    if one > 0.5 * cores:
        line += ("  WARNING: other processes are using the CPUs; timings are noisy and "
                 "scikit-learn's multi-threaded BLAS suffers most")
    return line


def print_header(machine: dict[str, Any], args: argparse.Namespace, config: dict[str, Any]) -> None:
    import streamgmm

    print("streamgmm core benchmark" + (" (--quick: smoke test, numbers not meaningful)"
                                        if args.quick else ""))
    print(f"streamgmm {streamgmm.__version__} at {common.git_revision()}; scikit-learn "
          f"{machine['sklearn']}; numpy {machine['numpy']}; scipy {machine['scipy']}; "
          f"Python {machine['python']}")
    print(f"{machine['platform']}; {machine['cores_available']} cores available")
    for pool in machine["threadpools"]:
        print(f"  threadpool: {pool['user_api']}/{pool['internal_api']} {pool['version']} "
              f"({pool['library']}, {pool['architecture']}): {pool['num_threads']} threads")
    print(load_line("load average at start"))
    print("  scikit-learn: numpy/BLAS with the thread counts above; streamgmm: n_jobs=None -> "
          f"{machine['cores_available']} worker threads over chunk_size={args.chunk_size} "
          "row chunks, BLAS held to 1 thread each")


def print_fit_table(results: list[dict[str, Any]], peaks: dict[str, float]) -> None:
    headers = ["case", "N", "D", "K", "iters sk/sg", "sk BLAS thr", "sklearn s/it",
               "streamgmm s/it",
               "ratio", "sg GFLOP/s", "% peak", "sk GFLOP/s", "LB rel.diff", "same"]
    rows = []
    for r in results:
        rows.append([
            r["case"], f"{r['n_samples']:,}", r["n_features"], r["n_components"],
            f"{r['sklearn']['n_iter']}/{r['streamgmm']['n_iter']}",
            r["sklearn"]["blas_threads"],
            common.fmt_seconds(r["sklearn"]["per_iter_s"]),
            common.fmt_seconds(r["streamgmm"]["per_iter_s"]),
            f"{r['ratio']:.2f}x",
            f"{r['streamgmm_gflops']:.1f}" if r["streamgmm_gflops"] else "n/a",
            f"{100 * r['streamgmm_fraction_of_peak']:.1f}%" if r["streamgmm_gflops"] else "n/a",
            f"{r['sklearn_gflops']:.1f}" if r["sklearn_gflops"] else "n/a",
            f"{r['lower_bound_rel_diff']:.1e}",
            "yes" if r["same_answer"] else "NO",
        ])
    print(common.format_table(headers, rows, "lrrrrrrrrrrrrl"))
    print(f"ratio = sklearn s/iter / streamgmm s/iter (per-iteration: median of iterations 2..n; "
          f"sklearn: the faster of the BLAS thread settings tried, shown as 'sk BLAS thr'). "
          f"GFLOP/s from 4*N*K*D^2 (full) and 8*N*K*D (diag) flops per iteration; % of the "
          f"matmul peak ({peaks['float64']:.1f} GFLOP/s float64, {peaks['float32']:.1f} float32 "
          f"for float32 rows). LB rel.diff = |streamgmm - sklearn float64| / |sklearn float64| "
          f"lower bound after the same iteration; same = within {SAME_ANSWER_RTOL['float64']:g} "
          f"(float64) / {SAME_ANSWER_RTOL['float32']:g} (float32).")


def summary_line(r: dict[str, Any]) -> str:
    sk, sg = r["sklearn"], r["streamgmm"]
    line = (f"[{r['case']} N={r['n_samples']:,} D={r['n_features']} K={r['n_components']}] "
            f"ratio sklearn/streamgmm = {r['ratio']:.2f}x per iteration "
            f"({sk['per_iter_s']:.4f} vs {sg['per_iter_s']:.4f} s/iter; whole fit / n_iter_: "
            f"{sk['wall_per_iter_s']:.4f} vs {sg['wall_per_iter_s']:.4f})")
    if r["streamgmm_gflops"]:
        line += (f"; streamgmm {r['streamgmm_gflops']:.1f} GFLOP/s = "
                 f"{100 * r['streamgmm_fraction_of_peak']:.1f}% of {r['dtype']} matmul peak")
    line += (f"; lower bound rel.diff {r['lower_bound_rel_diff']:.1e} vs sklearn float64 at "
             f"iteration {r['compared_at_iteration']}")
    if r["dtype"] == "float32":
        line += f" (sklearn on the same float32 data: {r['sklearn_lower_bound_rel_diff']:.1e})"
    line += "" if r["same_answer"] else "  <-- MISMATCH: not the same answer"
    return line


def print_memory(rows: list[dict[str, Any]]) -> None:
    headers = ["library", "rows", "input MB", "output MB", "peak above input+output MB",
               "chunks", "method"]
    table = [[r["library"], f"{r['n_rows']:,}", f"{r['input_bytes'] / common.MB:.1f}",
              f"{r['output_bytes'] / common.MB:.1f}", f"{r['working_bytes'] / common.MB:.1f}",
              f"{r['working_in_chunks']:.1f}", r["method"]] for r in rows]
    print(common.format_table(headers, table, "lrrrrrl"))
    unit = rows[0]
    print(f"chunks = peak above input+output / one chunk's working memory "
          f"(chunk_size={unit['chunk_size']} rows x (D + K) x 8 bytes = "
          f"{unit['chunk_bytes'] / common.MB:.1f} MB); streamgmm ran {unit['n_jobs']} worker "
          "threads, each with a chunk in flight.")
    by = {r["library"]: r for r in rows}
    sg, sk = by["streamgmm"], by["sklearn"]
    ratio = sk["working_bytes"] / max(sg["working_bytes"], 1)
    print(f"[predict_proba {sg['n_rows']:,} rows D=16 K=16 full] memory: streamgmm "
          f"{sg['working_bytes'] / common.MB:.1f} MB = {sg['working_in_chunks']:.1f} chunks, "
          f"scikit-learn {sk['working_bytes'] / common.MB:.1f} MB = "
          f"{sk['working_in_chunks']:.1f} chunks (ratio {ratio:.1f}x)")


# ======================================================================= main
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small N, 3 iterations: a smoke test that runs in seconds")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    parser.add_argument("--max-iter", type=int, default=None,
                        help="EM iterations per streamgmm fit (default 10, --quick 3)")
    parser.add_argument("--sklearn-max-iter", type=int, default=None,
                        help="EM iterations per scikit-learn fit (default 5, --quick 3); "
                             "per-iteration time is what is compared, and the lower bounds "
                             "are compared at the last iteration both ran")
    parser.add_argument("--sklearn-threads", choices=["best", "default", "1"], default=None,
                        help="BLAS threads for scikit-learn: 'best' fits with the default "
                             "and with 1 thread and keeps the faster (default; --quick: '1')")
    parser.add_argument("--types", default="full,diag,tied,spherical",
                        help="covariance types to run, comma-separated (default: all four)")
    parser.add_argument("--no-float32", action="store_true", help="skip the float32 full case")
    parser.add_argument("--no-memory", action="store_true", help="skip the predict_proba memory part")
    parser.add_argument("--chunk-size", type=int, default=16384,
                        help="streamgmm chunk_size for the memory part (default 16384)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("max_iter", "sklearn_max_iter"):
        value = getattr(args, name)
        if value is not None and value < 2:
            parser.error(f"--{name.replace('_', '-')} must be at least 2 (iteration 1 "
                         "includes initialisation and is not timed)")
    check_types(parser, args.types)
    return args


def check_types(parser: argparse.ArgumentParser, types: str) -> None:
    """``--types``: a parser error naming any unknown covariance type."""
    unknown = set(types.split(",")) - {"full", "diag", "tied", "spherical"}
    if unknown:
        parser.error(f"--types: unknown covariance type(s) {sorted(unknown)}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = QUICK if args.quick else FULL
    started = time.perf_counter()
    machine = common.machine_summary()
    print_header(machine, args, config)

    n = config["matmul_n"]
    print(f"\n== 1. peak reference: {n}x{n} @ {n}x{n} matmul, best of "
          f"{config['matmul_repeats']}, measured before and after the fits, higher kept ==",
          flush=True)
    matmul_before = measure_peak(config, "before the fits")

    sg_iter = args.max_iter or config["max_iter"]
    sk_iter = args.sklearn_max_iter or config["sklearn_max_iter"]
    print(f"\n== 2. EM per iteration: same data, same initial parameters, tol=0, max_iter="
          f"{sk_iter} (sklearn) / {sg_iter} (streamgmm) ==", flush=True)
    results = run_fit_cases(config, args)
    print()
    matmul_after = measure_peak(config, "peak reference after the fits")
    peaks = higher_peaks(matmul_before, matmul_after)
    print(f"peak reference used: float64 matmul {peaks['float64']:.1f} GFLOP/s, float32 matmul "
          f"{peaks['float32']:.1f} GFLOP/s")
    add_peak(results, peaks)
    print()
    print_fit_table(results, peaks)
    print()
    for r in results:
        print(summary_line(r))

    memory: list[dict[str, Any]] = []
    if not args.no_memory:
        print(f"\n== 3. predict_proba peak memory, {config['predict_rows']:,} rows, full, "
              "fresh subprocess per library ==", flush=True)
        memory = run_memory(config, args)
        print_memory(memory)

    elapsed = time.perf_counter() - started
    print("\n" + load_line("load average at end"))
    print(f"total benchmark time {elapsed:.0f} s")
    if args.json:
        report = {"quick": args.quick, "machine": machine, "git": common.git_revision(),
                  "matmul": {"before": matmul_before, "after": matmul_after, "peak": peaks},
                  "fits": results, "predict_memory": memory, "elapsed_s": elapsed,
                  "argv": sys.argv[1:]}
        Path(args.json).write_text(json.dumps(report, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
