"""streamgmm out of core (Dask over Zarr): memory, read cost and distributed scaling, in one run.

    .venv/bin/python benchmarks/bench_out_of_core.py                 # full run (~9 GiB of data)
    .venv/bin/python benchmarks/bench_out_of_core.py --quick         # smoke test, tiny data
    .venv/bin/python benchmarks/bench_out_of_core.py --json out.json --workdir DIR
    .venv/bin/python benchmarks/bench_out_of_core.py --prepare-only  # only generate the data

Measures, side by side in one run (issue 3, "Proof" -> Benchmarks):

1. Peak memory is bounded by the chunks, not by N. Two float32 Zarr datasets written by
   ``streamgmm.io.datagen`` with the same D, K and chunk rows, one 8x larger (8 GiB and
   1 GiB in the full run); each is fitted in a FRESH Python process with
   ``GaussianMixture(n_components=16, covariance_type="full", max_iter=3, tol=0,
   random_state=0)`` on the path (Dask's default threaded scheduler, default
   ``init_sample_size``, so the k-means initialisation on a bounded sample is included).
   The RSS of that process and all its descendants is summed every 50 ms from this
   process (psutil); the child also reports its own kernel high-water mark (VmHWM). The
   larger of the two is the peak. Printed: both peaks, their ratio, and seconds per
   iteration.
2. Diagonal covariance against a plain Dask read of the same data. On the small dataset:
   seconds per EM iteration of a diag fit started from given parameters (``weights_init``,
   ``means_init``, ``precisions_init``; no k-means), ``tol=0``, ``max_iter=N``, fit wall time
   divided by N (the default ``dtype=None``: float32 tiles for this float32 data, float64
   accumulation; the same fit with ``dtype="float64"`` is printed for reference); and, in
   the same run, the time Dask takes to read and sum the same Zarr
   data, both as ``dask.array.from_zarr(path, component="X").sum(axis=0).compute()`` and as
   ``streamgmm.open_rows(path).array.sum(axis=0).compute()`` (streamgmm's own reader). The
   reads are repeated before and after the fit (after one untimed warm-up read), and the
   median is used.
3. Distributed scaling, full covariance. On the small dataset, seconds per iteration
   (median of iterations 2..n) on the ``distributed.LocalCluster`` streamgmm starts
   (``streamgmm.drivers.compute.compute_scheduler("local-cluster", ...)``, as a job
   config's ``compute`` section does) with ``n_workers=1, threads_per_worker=1`` and
   with ``n_workers=2`` (processes), from the same given
   parameters; the speedup; the threaded scheduler for reference; and whether all three
   gave bitwise the same model.

The generated data are kept in ``--workdir`` (default ``benchmarks/results/work``, git-ignored)
and reused by later runs: the generator is deterministic, and the stored generation
parameters are checked before reuse. Nothing is ever deleted by this script.

Before measuring, the full run waits (at most ``--wait-max`` seconds) for the 1-minute load
average to drop below ``--wait-load`` and prints the load it ran at. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as common  # noqa: E402

REPO = common.REPO
DEFAULT_WORKDIR = REPO / "benchmarks" / "results" / "work"
GB = 1e9  # targets are in decimal GB (1.5 GB = 1430.5 MiB)

FULL = {
    "big_rows": 2**27,  # x 16 features x 4 bytes = 8 GiB
    "small_rows": 2**24,  # 1 GiB
    "chunk_rows": 2**20,  # 64 MiB chunks
    "memory_max_iter": 3,
    "diag_max_iter": 8,
    "read_repeats": (3, 2),  # read+sum timings before / after the diag fit
    "dist_max_iter": 6,
    "wait_load": 0.8,
}
QUICK = {
    "big_rows": 2**17,  # 8 MiB
    "small_rows": 2**14,  # 1 MiB
    "chunk_rows": 2**12,  # 256 KiB chunks
    "memory_max_iter": 3,
    "diag_max_iter": 3,
    "read_repeats": (2, 1),
    "dist_max_iter": 3,
    "wait_load": 0.0,  # no waiting: a smoke test
}
N_FEATURES = 16
N_COMPONENTS = 16
SEED = 0
TARGETS = {
    "big_peak_bytes": 1.5 * GB,
    "peak_ratio": 1.2,
    "diag_over_read": 1.5,
    "speedup_2_workers": 1.7,
}


def human_size(n_bytes: float) -> str:
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n_bytes >= size:
            value = n_bytes / size
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{n_bytes:.0f} B"


def mib(n_bytes: float | None) -> str:
    return "n/a" if n_bytes is None else f"{n_bytes / common.MB:,.0f}"


def yes_no(ok: bool) -> str:
    return "yes" if ok else "NO"


def load_now() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except (AttributeError, OSError):
        return None


def load_text(what: str) -> str:
    load = load_now()
    if load is None:
        return f"{what}: unknown"
    return f"{what}: {load[0]:.2f} (1 min), {load[1]:.2f} (5 min), {load[2]:.2f} (15 min)"


# ======================================================================= data
def dataset_path(workdir: Path, n_rows: int, chunk_rows: int) -> Path:
    return workdir / (f"mixture_N{n_rows}_D{N_FEATURES}_K{N_COMPONENTS}_chunk{chunk_rows}"
                      f"_float32_seed{SEED}.zarr")


def ensure_dataset(workdir: Path, n_rows: int, chunk_rows: int) -> dict[str, Any]:
    """Generate the dataset unless it is already there (then check it is the same one)."""
    import zarr

    from streamgmm.io.datagen import generate_mixture_dataset

    path = dataset_path(workdir, n_rows, chunk_rows)
    wanted = {"n_samples": n_rows, "n_features": N_FEATURES, "n_components": N_COMPONENTS,
              "chunk_rows": chunk_rows, "dtype": "float32", "seed": SEED,
              "covariance_type": "full", "nan_fraction": 0.0}
    nbytes = n_rows * N_FEATURES * 4
    if path.exists():
        try:
            stored = dict(zarr.open_group(str(path), mode="r").attrs["streamgmm_datagen"])
        except Exception as exc:  # noqa: BLE001 - reported, never deleted
            raise SystemExit(f"{path} exists but is not a readable datagen dataset ({exc}); "
                             "move it away or pass another --workdir") from None
        different = {k: (stored.get(k), v) for k, v in wanted.items() if stored.get(k) != v}
        if different:
            raise SystemExit(f"{path} exists but was generated with other parameters "
                             f"{different}; move it away or pass another --workdir")
        print(f"  reusing {path.name} ({human_size(nbytes)}, {n_rows:,} rows)", flush=True)
        return {"path": str(path), "n_rows": n_rows, "nbytes": nbytes, "generated_s": None,
                "n_chunks": -(-n_rows // chunk_rows)}
    print(f"  generating {path.name} ({human_size(nbytes)}, {n_rows:,} rows) ...", flush=True)
    start = time.perf_counter()
    info = generate_mixture_dataset(path, n_samples=n_rows, n_features=N_FEATURES,
                                    n_components=N_COMPONENTS, chunk_rows=chunk_rows,
                                    dtype="float32", covariance_type="full", seed=SEED)
    elapsed = time.perf_counter() - start
    print(f"    written in {elapsed:.1f} s", flush=True)
    return {"path": str(path), "n_rows": n_rows, "nbytes": nbytes, "generated_s": elapsed,
            "n_chunks": info.n_chunks}


def disk_usage_bytes(path: str) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def init_parameters(path: str, covariance_type: str, sample_rows: int = 200_000) -> dict[str, np.ndarray]:
    """Initial parameters from k-means on an evenly strided sample of the dataset."""
    import zarr

    array = zarr.open_array(str(path), path="X", mode="r")
    step = max(1, array.shape[0] // sample_rows)
    sample = np.asarray(array[::step], dtype=np.float64)
    return common.quick_init(sample, N_COMPONENTS, covariance_type, seed=SEED, sample_size=20_000)


# ======================================================================= fits
def model_digest(model: Any) -> str:
    digest = hashlib.sha256()
    for name in ("weights_", "means_", "covariances_"):
        digest.update(np.ascontiguousarray(getattr(model, name)).tobytes())
    return digest.hexdigest()[:16]


def timed_fit_path(path: str, covariance_type: str, max_iter: int,
                   init: dict[str, np.ndarray] | None = None, scheduler: Any = None,
                   random_state: int = 0, dtype: str | None = None) -> dict[str, Any]:
    """Fit streamgmm on the Zarr path for exactly ``max_iter`` iterations; timings.

    ``dtype=None`` is the estimator's default: float32 compute for this float32 data.
    """
    from sklearn.exceptions import ConvergenceWarning

    import streamgmm

    model = streamgmm.GaussianMixture(
        n_components=N_COMPONENTS, covariance_type=covariance_type, tol=0.0, max_iter=max_iter,
        random_state=random_state, verbose=2, verbose_interval=1, scheduler=scheduler,
        dtype=dtype, **(init or {}),
    )
    with warnings.catch_warnings(), common.IterationLapses() as log:
        warnings.simplefilter("ignore", ConvergenceWarning)  # tol=0: never converges, by design
        start = time.perf_counter()
        model.fit(path)
        wall = time.perf_counter() - start
    n_iter = int(model.n_iter_)
    return {
        "covariance_type": covariance_type,
        "n_iter": n_iter,
        "wall_s": wall,
        "wall_per_iter_s": wall / max(n_iter, 1),
        "iteration_lapses_s": log.ordered(),
        "steady_per_iter_s": log.steady_median(),
        "lower_bounds": [float(v) for v in model.lower_bounds_],
        "model_digest": model_digest(model),
    }


def fit_worker(path: str, covariance_type: str, max_iter: int) -> dict[str, Any]:
    """Part 1, run in a fresh process: the fit exactly as a user would call it."""
    rss_at_start = common.current_rss_bytes()
    import dask  # noqa: F401 - imported before measuring the baseline
    import dask.array  # noqa: F401
    import sklearn.cluster  # noqa: F401
    import zarr  # noqa: F401

    import streamgmm  # noqa: F401

    rss_after_imports = common.current_rss_bytes()
    result = timed_fit_path(path, covariance_type, max_iter, init=None, scheduler=None,
                            random_state=0)
    result.update({
        "rss_at_start_bytes": rss_at_start,
        "rss_after_imports_bytes": rss_after_imports,
        "rss_at_end_bytes": common.current_rss_bytes(),
        "vmhwm_bytes": common.high_water_mark_bytes(),
        "dask_scheduler": str(dask.config.get("scheduler", None) or "threads (default)"),
        "dask_num_workers": dask.config.get("num_workers", None) or os.cpu_count(),
    })
    return result


# ===================================================================== part 1
def run_memory(datasets: dict[str, dict[str, Any]], config: dict[str, Any],
               interval: float) -> list[dict[str, Any]]:
    rows = []
    for label in ("small", "big"):
        data = datasets[label]
        print(f"  fitting {human_size(data['nbytes'])} ({data['n_rows']:,} rows, "
              f"{data['n_chunks']} chunks) in a fresh process ... {load_text('load')}", flush=True)
        result, tree = common.run_in_fresh_process_with_tree_rss(
            "bench_out_of_core", "fit_worker",
            {"path": data["path"], "covariance_type": "full",
             "max_iter": config["memory_max_iter"]},
            interval=interval, timeout=4 * 3600,
        )
        peak = max(tree["peak_bytes"], result["vmhwm_bytes"] or 0)
        row = {"dataset": label, "n_rows": data["n_rows"], "nbytes": data["nbytes"],
               "n_chunks": data["n_chunks"], "peak_bytes": peak, "tree": tree, "fit": result,
               "tree_peak_bytes": tree["peak_bytes"], "vmhwm_bytes": result["vmhwm_bytes"],
               "peak_above_imports_bytes": peak - result["rss_after_imports_bytes"],
               "per_iter_s": result["steady_per_iter_s"] or result["wall_per_iter_s"]}
        flops = common.flops_per_iteration("full", data["n_rows"], N_FEATURES, N_COMPONENTS)
        row["gflops"] = flops / row["per_iter_s"] / 1e9
        rows.append(row)
        print(f"    peak {mib(peak)} MiB (tree sampled {mib(tree['peak_bytes'])}, VmHWM "
              f"{mib(result['vmhwm_bytes'])}); {row['per_iter_s']:.2f} s/iter; process wall "
              f"{tree['wall_s']:.1f} s", flush=True)
    return rows


def print_memory(rows: list[dict[str, Any]], chunk_rows: int, max_iter: int) -> dict[str, Any]:
    chunk_bytes = chunk_rows * N_FEATURES * 4
    headers = ["dataset", "rows", "chunks", "tree peak MiB", "VmHWM MiB", "peak MiB",
               "after imports MiB", "peak-imports MiB", "= chunks", "procs", "init+it1 s",
               "s/iter", "GFLOP/s"]
    table = []
    for r in rows:
        fit = r["fit"]
        table.append([
            human_size(r["nbytes"]), f"{r['n_rows']:,}", r["n_chunks"], mib(r["tree_peak_bytes"]),
            mib(r["vmhwm_bytes"]), mib(r["peak_bytes"]), mib(fit["rss_after_imports_bytes"]),
            mib(r["peak_above_imports_bytes"]),
            f"{r['peak_above_imports_bytes'] / chunk_bytes:.1f}",
            r["tree"]["max_processes"],
            common.fmt_seconds(fit["iteration_lapses_s"][0] if fit["iteration_lapses_s"] else None),
            common.fmt_seconds(r["per_iter_s"]), f"{r['gflops']:.1f}",
        ])
    print(common.format_table(headers, table, "lrrrrrrrrrrrr"))
    small, big = rows
    ratio = big["peak_bytes"] / small["peak_bytes"]
    ratio_above = big["peak_above_imports_bytes"] / max(small["peak_above_imports_bytes"], 1)
    print(f"peak = max(RSS of the fit process and all its descendants, summed and sampled every "
          f"{big['tree']['interval_s'] * 1e3:.0f} ms from outside; the fit process's own VmHWM). "
          f"'after imports' = RSS once numpy/dask/zarr/sklearn/streamgmm are imported; "
          f"'= chunks' = (peak - after imports) / one {human_size(chunk_bytes)} chunk. "
          f"s/iter = median of iterations 2..{max_iter} (iteration 1 includes the init sample "
          f"pass and k-means); GFLOP/s from 4*N*K*D^2.")
    big_ok = big["peak_bytes"] < TARGETS["big_peak_bytes"]
    ratio_ok = ratio <= TARGETS["peak_ratio"]
    print(f"[peak memory full D={N_FEATURES} K={N_COMPONENTS}] {human_size(big['nbytes'])}: "
          f"{mib(big['peak_bytes'])} MiB, {human_size(small['nbytes'])}: "
          f"{mib(small['peak_bytes'])} MiB; ratio big/small = {ratio:.2f}x "
          f"(above imports: {ratio_above:.2f}x); s/iter {big['per_iter_s']:.2f} vs "
          f"{small['per_iter_s']:.2f} (ratio {big['per_iter_s'] / small['per_iter_s']:.2f}x for "
          f"{big['n_rows'] / small['n_rows']:.0f}x the rows). Targets: big peak < "
          f"{TARGETS['big_peak_bytes'] / GB:.1f} GB: {yes_no(big_ok)}; within "
          f"{100 * (TARGETS['peak_ratio'] - 1):.0f}% of small: {yes_no(ratio_ok)}")
    return {"ratio": ratio, "ratio_above_imports": ratio_above, "big_peak_ok": big_ok,
            "ratio_ok": ratio_ok}


# ===================================================================== part 2
def time_read_sum(path: str, how: str) -> float:
    import dask.array as da

    import streamgmm

    start = time.perf_counter()
    if how == "from_zarr":
        da.from_zarr(path, component="X").sum(axis=0).compute()
    else:
        streamgmm.open_rows(path).array.sum(axis=0).compute()
    return time.perf_counter() - start


def run_diag(data: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    path = data["path"]
    init = init_parameters(path, "diag")
    ways = ("from_zarr", "open_rows")
    reads: dict[str, list[float]] = {how: [] for how in ways}
    warmup = {how: time_read_sum(path, how) for how in ways}  # page cache, imports, zarr metadata
    before, after = config["read_repeats"]
    for _ in range(before):
        for how in ways:
            reads[how].append(time_read_sum(path, how))
    fit = timed_fit_path(path, "diag", config["diag_max_iter"], init=init)
    # For reference, the same fit computing in float64 (statistics identical to rounding).
    fit64 = timed_fit_path(path, "diag", config["diag_max_iter"], init=init, dtype="float64")
    for _ in range(after):
        for how in ways:
            reads[how].append(time_read_sum(path, how))
    medians = {how: float(np.median(times)) for how, times in reads.items()}
    per_iter = fit["wall_per_iter_s"]
    return {"dataset": data, "fit": fit, "fit_float64": fit64, "reads_s": reads, "warmup_read_s": warmup,
            "read_median_s": medians, "per_iter_s": per_iter,
            "ratio_from_zarr": per_iter / medians["from_zarr"],
            "ratio_open_rows": per_iter / medians["open_rows"],
            "ratio_steady_from_zarr": (fit["steady_per_iter_s"] or per_iter) / medians["from_zarr"]}


def print_diag(r: dict[str, Any]) -> dict[str, Any]:
    fit = r["fit"]
    headers = ["what", "runs", "median s", "min s", "max s", "GB/s (median)"]
    nbytes = r["dataset"]["nbytes"]
    table = []
    for how, label in (("from_zarr", "dask.array.from_zarr(...).sum(axis=0)"),
                       ("open_rows", "streamgmm.open_rows(...).array.sum(axis=0)")):
        times = r["reads_s"][how]
        table.append([label, len(times), common.fmt_seconds(np.median(times)),
                      common.fmt_seconds(min(times)), common.fmt_seconds(max(times)),
                      f"{nbytes / np.median(times) / GB:.2f}"])
    lapses = fit["iteration_lapses_s"]
    table.append([f"diag EM iteration: fit wall / {fit['n_iter']}", fit["n_iter"],
                  common.fmt_seconds(fit["wall_per_iter_s"]),
                  common.fmt_seconds(min(lapses) if lapses else None),
                  common.fmt_seconds(max(lapses) if lapses else None),
                  f"{nbytes / fit['wall_per_iter_s'] / GB:.2f}"])
    table.append(["diag EM iteration: median lapse of it. 2..n", max(len(lapses) - 1, 0),
                  common.fmt_seconds(fit["steady_per_iter_s"]), "", "",
                  f"{nbytes / (fit['steady_per_iter_s'] or np.nan) / GB:.2f}"])
    fit64 = r["fit_float64"]
    table.append([f"  same, dtype='float64': fit wall / {fit64['n_iter']}", fit64["n_iter"],
                  common.fmt_seconds(fit64["wall_per_iter_s"]), "", "",
                  f"{nbytes / fit64['wall_per_iter_s'] / GB:.2f}"])
    print(common.format_table(headers, table, "lrrrrr"))
    print("reads: one untimed warm-up each, then alternated, before and after the fits; "
          "min/max of the EM rows are over the individual iteration lapses (iteration 1 "
          "includes building the initial state from the given parameters). The EM rows use "
          "the default dtype=None, which computes float32 data in float32 tiles with float64 "
          "accumulation; the last row forces float64 compute.")
    ratio64 = fit64["wall_per_iter_s"] / r["read_median_s"]["from_zarr"]
    print(f"  dtype='float64' for reference: {ratio64:.2f}x the from_zarr read+sum")
    ok = r["ratio_from_zarr"] <= TARGETS["diag_over_read"]
    print(f"[diag vs dask read {human_size(nbytes)} D={N_FEATURES} K={N_COMPONENTS}] ratio diag "
          f"s/iter / dask read+sum = {r['ratio_from_zarr']:.2f}x (from_zarr), "
          f"{r['ratio_open_rows']:.2f}x (open_rows); {r['per_iter_s']:.3f} s/iter vs "
          f"{r['read_median_s']['from_zarr']:.3f} s / {r['read_median_s']['open_rows']:.3f} s "
          f"read+sum. Target <= {TARGETS['diag_over_read']:.1f}x: {yes_no(ok)}")
    return {"ok": ok}


# ===================================================================== part 3
def distributed_fit(path: str, init: dict[str, np.ndarray], n_workers: int,
                    max_iter: int) -> dict[str, Any]:
    from streamgmm.drivers.compute import compute_scheduler

    start = time.perf_counter()
    # The cluster a job config's ``compute: {scheduler: local-cluster}`` starts.
    with compute_scheduler("local-cluster", n_workers=n_workers, threads_per_worker=1) as client:
        startup = time.perf_counter() - start
        # Sampled slowly: the sampler runs in this process, and with 2 workers on 2 cores
        # its CPU would come out of the workers' time (with 1 worker it has a core spare).
        with common.ProcessTreePeakRSS(os.getpid(), interval=0.5, include_root=False) as workers:
            result = timed_fit_path(path, "full", max_iter, init=init, scheduler=client)
        result["cluster_startup_s"] = startup
        result["workers_peak_rss_bytes"] = workers.peak_bytes
        result["worker_processes"] = workers.max_processes
    return result


def run_distributed(data: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    path = data["path"]
    init = init_parameters(path, "full")
    max_iter = config["dist_max_iter"]
    runs: dict[str, dict[str, Any]] = {}
    for n_workers in (1, 2):
        print(f"  LocalCluster n_workers={n_workers} threads_per_worker=1 ... "
              f"{load_text('load')}", flush=True)
        runs[f"distributed_{n_workers}"] = distributed_fit(path, init, n_workers, max_iter)
    print(f"  threaded scheduler (reference) ... {load_text('load')}", flush=True)
    runs["threads"] = timed_fit_path(path, "full", max_iter, init=init, scheduler="threads")
    one, two = runs["distributed_1"], runs["distributed_2"]
    speedup = one["steady_per_iter_s"] / two["steady_per_iter_s"]
    digests = {name: run["model_digest"] for name, run in runs.items()}
    return {"dataset": data, "runs": runs, "speedup": speedup,
            "speedup_wall": one["wall_per_iter_s"] / two["wall_per_iter_s"],
            "identical_models": len(set(digests.values())) == 1, "digests": digests}


def print_distributed(r: dict[str, Any], max_iter: int) -> dict[str, Any]:
    nbytes, n_rows = r["dataset"]["nbytes"], r["dataset"]["n_rows"]
    flops = common.flops_per_iteration("full", n_rows, N_FEATURES, N_COMPONENTS)
    headers = ["scheduler", "cluster start s", "iter 1 s", "s/iter", "GFLOP/s",
               "fit wall / n_iter", "workers peak RSS MiB", "model"]
    table = []
    base = r["runs"]["distributed_1"]["model_digest"]
    for name, label in (("distributed_1", "distributed 1 worker x 1 thread"),
                        ("distributed_2", "distributed 2 workers x 1 thread"),
                        ("threads", "threads (2 threads, this process)")):
        run = r["runs"][name]
        table.append([
            label, common.fmt_seconds(run.get("cluster_startup_s")),
            common.fmt_seconds(run["iteration_lapses_s"][0]),
            common.fmt_seconds(run["steady_per_iter_s"]),
            f"{flops / run['steady_per_iter_s'] / 1e9:.1f}",
            common.fmt_seconds(run["wall_per_iter_s"]),
            mib(run.get("workers_peak_rss_bytes")),
            run["model_digest"] + (" (same)" if run["model_digest"] == base else " DIFFERENT"),
        ])
    print(common.format_table(headers, table, "lrrrrrrl"))
    print(f"s/iter = median of iterations 2..{max_iter} (iteration 1 also starts the workers' "
          "imports); all from the same given parameters, no k-means. model = sha256 of "
          "weights/means/covariances (bitwise determinism across schedulers).")
    ok = r["speedup"] >= TARGETS["speedup_2_workers"]
    threads = r["runs"]["threads"]["steady_per_iter_s"]
    print(f"[distributed full {human_size(nbytes)} D={N_FEATURES} K={N_COMPONENTS}] speedup 2 "
          f"workers / 1 worker = {r['speedup']:.2f}x per iteration "
          f"({r['runs']['distributed_1']['steady_per_iter_s']:.3f} vs "
          f"{r['runs']['distributed_2']['steady_per_iter_s']:.3f} s/iter; whole fit / n_iter: "
          f"{r['speedup_wall']:.2f}x); threads scheduler {threads:.3f} s/iter; identical models: "
          f"{yes_no(r['identical_models'])}. Target >= {TARGETS['speedup_2_workers']:.1f}x: "
          f"{yes_no(ok)}")
    return {"ok": ok}


# ======================================================================= main
def print_header(machine: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    import dask
    import distributed
    import zarr

    import streamgmm

    print("streamgmm out-of-core benchmark" + (" (--quick: smoke test, numbers not meaningful)"
                                               if args.quick else ""))
    versions = {"streamgmm": streamgmm.__version__, "dask": dask.__version__,
                "distributed": distributed.__version__, "zarr": zarr.__version__}
    print(f"streamgmm {versions['streamgmm']} at {common.git_revision()}; dask {versions['dask']}; "
          f"distributed {versions['distributed']}; zarr {versions['zarr']}; numpy "
          f"{machine['numpy']}; scikit-learn {machine['sklearn']}; Python {machine['python']}")
    print(f"{machine['platform']}; cores: {machine['cores_available']} available to this "
          f"process, os.cpu_count() = {os.cpu_count()}")
    for pool in machine["threadpools"]:
        print(f"  threadpool: {pool['user_api']}/{pool['internal_api']} {pool['version']} "
              f"({pool['library']}, {pool['architecture']}): {pool['num_threads']} threads")
    print("  streamgmm holds BLAS to 1 thread per Dask worker thread/process during a pass")
    print(load_text("load average at start"))
    return versions


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="tiny datasets (a few MB): a smoke test that runs in seconds")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    parser.add_argument("--workdir", metavar="DIR", default=None,
                        help=f"where the generated datasets are kept and reused (default "
                             f"{DEFAULT_WORKDIR.relative_to(REPO)})")
    parser.add_argument("--parts", default="1,2,3",
                        help="parts to run, comma-separated (default 1,2,3)")
    parser.add_argument("--prepare-only", action="store_true",
                        help="generate the datasets (if missing) and stop")
    parser.add_argument("--wait-load", type=float, default=None,
                        help="wait until the 1-min load average is below this before measuring "
                             "(default 0.8; --quick: 0 = do not wait)")
    parser.add_argument("--wait-max", type=float, default=600.0,
                        help="longest wait for a low load, seconds (default 600)")
    parser.add_argument("--sample-interval", type=float, default=0.05,
                        help="RSS sampling interval of part 1, seconds (default 0.05)")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= {"1", "2", "3"}:
        parser.error(f"--parts: unknown part(s) {sorted(parts - {'1', '2', '3'})}")
    args.parts = parts
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = QUICK if args.quick else FULL
    workdir = Path(args.workdir).resolve() if args.workdir else DEFAULT_WORKDIR
    started = time.perf_counter()
    machine = common.machine_summary()
    versions = print_header(machine, args)

    print(f"\n== 0. data: float32 Zarr, D={N_FEATURES}, K={N_COMPONENTS} (full), "
          f"{config['chunk_rows']:,} rows = {human_size(config['chunk_rows'] * N_FEATURES * 4)} "
          f"per chunk, in {workdir} ==", flush=True)
    workdir.mkdir(parents=True, exist_ok=True)
    datasets = {"small": ensure_dataset(workdir, config["small_rows"], config["chunk_rows"])}
    if "1" in args.parts or args.prepare_only:
        datasets["big"] = ensure_dataset(workdir, config["big_rows"], config["chunk_rows"])
    for data in datasets.values():
        data["disk_bytes"] = disk_usage_bytes(data["path"])
        print(f"  {Path(data['path']).name}: {human_size(data['nbytes'])} uncompressed, "
              f"{human_size(data['disk_bytes'])} on disk, {data['n_chunks']} chunks")
    if args.prepare_only:
        return 0

    wait_load = config["wait_load"] if args.wait_load is None else args.wait_load
    wait = None
    if wait_load > 0:
        wait = common.wait_for_low_load(wait_load, args.wait_max)
    load = load_now()
    if load is not None:
        line = (f"measuring at load average {load[0]:.2f} (1 min), {load[1]:.2f} (5 min) on "
                f"{common.available_cores()} cores")
        if wait is not None and not wait["reached"]:
            line += f"  WARNING: did not drop below {wait_load} within {args.wait_max:.0f} s"
        print(line, flush=True)

    report: dict[str, Any] = {"quick": args.quick, "machine": machine, "versions": versions,
                              "git": common.git_revision(), "config": config, "targets": TARGETS,
                              "datasets": datasets, "wait": wait, "load_at_measuring": load,
                              "argv": sys.argv[1:]}
    verdicts: list[tuple[str, str, str]] = []

    if "1" in args.parts:
        print(f"\n== 1. peak memory: full covariance, max_iter={config['memory_max_iter']}, "
              "tol=0, random_state=0, default init (sample + k-means), threaded scheduler; fresh "
              "process per dataset ==", flush=True)
        part_start = time.perf_counter()
        memory = run_memory(datasets, config, args.sample_interval)
        print()
        verdict = print_memory(memory, config["chunk_rows"], config["memory_max_iter"])
        report["memory"] = {"rows": memory, **verdict, "part_s": time.perf_counter() - part_start}
        print(f"(part 1 took {report['memory']['part_s']:.0f} s)")
        big, small = memory[1], memory[0]
        verdicts.append((f"peak RSS, {human_size(big['nbytes'])} fit",
                         f"{big['peak_bytes'] / GB:.2f} GB", f"< 1.5 GB: {yes_no(verdict['big_peak_ok'])}"))
        verdicts.append((f"peak {human_size(big['nbytes'])} / peak {human_size(small['nbytes'])}",
                         f"{verdict['ratio']:.2f}x", f"<= 1.20x: {yes_no(verdict['ratio_ok'])}"))

    if "2" in args.parts:
        print(f"\n== 2. diag EM iteration vs Dask read+sum of the same "
              f"{human_size(datasets['small']['nbytes'])} Zarr data (threaded scheduler) ==",
              flush=True)
        print(f"  {load_text('load')}", flush=True)
        part_start = time.perf_counter()
        diag = run_diag(datasets["small"], config)
        verdict = print_diag(diag)
        report["diag"] = {**diag, **verdict, "part_s": time.perf_counter() - part_start}
        print(f"(part 2 took {report['diag']['part_s']:.0f} s)")
        verdicts.append(("diag s/iter / dask read+sum", f"{diag['ratio_from_zarr']:.2f}x",
                         f"<= 1.5x: {yes_no(verdict['ok'])}"))

    if "3" in args.parts:
        print(f"\n== 3. distributed scaling: full covariance, "
              f"{human_size(datasets['small']['nbytes'])}, max_iter={config['dist_max_iter']}, "
              "given initial parameters ==", flush=True)
        part_start = time.perf_counter()
        dist = run_distributed(datasets["small"], config)
        verdict = print_distributed(dist, config["dist_max_iter"])
        report["distributed"] = {**dist, **verdict, "part_s": time.perf_counter() - part_start}
        print(f"(part 3 took {report['distributed']['part_s']:.0f} s)")
        verdicts.append(("speedup 2 workers / 1 worker", f"{dist['speedup']:.2f}x",
                         f">= 1.7x: {yes_no(verdict['ok'])}"))

    elapsed = time.perf_counter() - started
    if verdicts:
        print("\n== targets (issue 3) ==")
        print(common.format_table(["measure", "value", "target met"], verdicts, "lrl"))
    print("\n" + load_text("load average at end"))
    print(f"total benchmark time {elapsed:.0f} s")
    if args.quick:
        print("(--quick: tiny data; the numbers only show that the script works)")
    report["elapsed_s"] = elapsed
    report["load_at_end"] = load_now()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
