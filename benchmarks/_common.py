"""Shared helpers for the scripts in ``benchmarks/``.

Nothing here imports streamgmm, so every benchmark can use it against any version
of the package (or none). What is here:

- :func:`blas_info` / :func:`machine_summary`: which BLAS, how many threads, how many cores.
- :func:`matmul_gflops`: the machine's large-GEMM GFLOP/s, the peak reference.
- :func:`make_mixture_data`: seeded synthetic data drawn from a known Gaussian mixture.
- :func:`quick_init`: one set of initial parameters (weights, means, precisions) for every
  covariance type, computed cheaply on a sample, to hand to both libraries.
- :func:`flops_per_iteration`: the design's flop counts for one EM iteration.
- :class:`PeakRSS`: peak resident-memory increase of a block of code.
- :func:`run_in_fresh_process`: call ``module.function(**kwargs)`` in a new Python
  process and get its JSON result back (memory measurements need a fresh process).
- :func:`format_table`: plain aligned text tables.

Added for ``bench_out_of_core.py`` (the helpers above are unchanged):

- :class:`IterationLapses`: per-iteration wall times from an estimator's ``verbose=2`` output.
- :func:`high_water_mark_bytes`: this process's lifetime peak RSS (``VmHWM``).
- :func:`process_tree_rss` / :class:`ProcessTreePeakRSS`: summed RSS of a process and all
  its descendants, and its peak sampled from a thread (psutil).
- :func:`run_in_fresh_process_with_tree_rss`: :func:`run_in_fresh_process` plus the peak RSS
  of the child's whole process tree over its whole life.
- :func:`wait_for_low_load`: wait (bounded) for the load average to drop before measuring.
"""

from __future__ import annotations

import json
import os
import platform
import re
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MB = 1024.0 * 1024.0


# ===================================================================== machine
def available_cores() -> int:
    """Cores this process may run on (CPU affinity aware)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def blas_info() -> list[dict[str, Any]]:
    """threadpoolctl's view of the loaded BLAS / OpenMP libraries."""
    from threadpoolctl import threadpool_info

    return [
        {
            "user_api": pool.get("user_api"),
            "internal_api": pool.get("internal_api"),
            "version": pool.get("version"),
            "num_threads": pool.get("num_threads"),
            "architecture": pool.get("architecture"),
            "library": Path(pool.get("filepath", "")).name,
        }
        for pool in threadpool_info()
    ]


def machine_summary() -> dict[str, Any]:
    """Versions, cores and thread pools, for the header of a benchmark report."""
    import scipy
    import sklearn

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cores_available": available_cores(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "sklearn": sklearn.__version__,
        "threadpools": blas_info(),
    }


def git_revision() -> str:
    """Short commit of the checkout, flagged when ``streamgmm/`` has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO,
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "streamgmm"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return f"{head}{' + uncommitted changes in streamgmm/' if dirty else ''}" or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def matmul_gflops(n: int = 4096, repeats: int = 3, dtype: Any = np.float64) -> dict[str, Any]:
    """GFLOP/s of one ``n×n @ n×n`` product, best of ``repeats`` (2·n³ flops each).

    Uses numpy's BLAS with its default thread count (all cores): this is the
    ceiling any dense kernel on this machine can hope to reach.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n)).astype(dtype)
    b = rng.standard_normal((n, n)).astype(dtype)
    out = np.empty((n, n), dtype=dtype)
    np.matmul(a[:64], b, out=out[:64])  # warm-up: threads started, pages touched
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {
        "n": n,
        "dtype": np.dtype(dtype).name,
        "seconds": times,
        "gflops": 2.0 * n**3 / best / 1e9,
    }


# ======================================================================== data
def make_mixture_data(
    n_samples: int,
    n_features: int,
    n_components: int,
    seed: int = 0,
    separation: float = 3.0,
    out: np.ndarray | None = None,
    block: int = 65536,
) -> np.ndarray:
    """Rows drawn from a random Gaussian mixture with full covariances (float64).

    Means are spread ``separation`` standard deviations apart on average, so the
    components overlap and EM has real work to do. Generated block by block into
    ``out`` (allocated if not given) so the only large allocation is the result.
    """
    rng = np.random.default_rng(seed)
    d, k = n_features, n_components
    means = rng.standard_normal((k, d)) * separation
    factors = []
    for _ in range(k):
        a = rng.standard_normal((d, d)) / np.sqrt(d)
        cov = a @ a.T + 0.2 * np.eye(d)
        factors.append(np.linalg.cholesky(cov))
    weights = rng.dirichlet(np.full(k, 5.0))
    if out is None:
        out = np.empty((n_samples, d), dtype=np.float64)
    for start in range(0, n_samples, block):
        stop = min(start + block, n_samples)
        labels = rng.choice(k, size=stop - start, p=weights)
        z = rng.standard_normal((stop - start, d))
        for j in range(k):
            rows = labels == j
            out[start:stop][rows] = z[rows] @ factors[j].T + means[j]
    return out


def quick_init(
    X: np.ndarray,
    n_components: int,
    covariance_type: str,
    seed: int = 0,
    sample_size: int = 20000,
    reg_covar: float = 1e-6,
) -> dict[str, np.ndarray]:
    """``weights_init``, ``means_init`` and ``precisions_init`` from k-means on a sample.

    The same dictionary is passed to every library, so all start from exactly the
    same parameters and no library runs its own k-means inside ``fit``.
    """
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    n = X.shape[0]
    rows = np.sort(rng.choice(n, size=min(n, sample_size), replace=False))
    sample = np.asarray(X[rows], dtype=np.float64)
    labels = KMeans(n_clusters=n_components, n_init=1, max_iter=20, random_state=seed).fit(sample).labels_
    k, d = n_components, sample.shape[1]
    counts = np.bincount(labels, minlength=k).astype(np.float64)
    weights = (counts + 1.0) / (counts.sum() + k)
    means = np.zeros((k, d))
    covariances = np.zeros((k, d, d))
    for j in range(k):
        members = sample[labels == j]
        if len(members) < 2:  # an empty k-means cluster: any point, unit covariance
            means[j] = sample[rng.integers(len(sample))]
            covariances[j] = np.eye(d)
            continue
        means[j] = members.mean(axis=0)
        covariances[j] = np.cov(members, rowvar=False, bias=True)
    covariances += reg_covar * np.eye(d)
    if covariance_type == "full":
        precisions = np.linalg.inv(covariances)
    elif covariance_type == "tied":
        tied = np.einsum("k,kij->ij", weights, covariances)
        precisions = np.linalg.inv(tied)
    elif covariance_type == "diag":
        precisions = 1.0 / np.einsum("kii->ki", covariances)
    elif covariance_type == "spherical":
        precisions = 1.0 / np.einsum("kii->ki", covariances).mean(axis=1)
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    return {"weights_init": weights, "means_init": means, "precisions_init": precisions}


def flops_per_iteration(covariance_type: str, n: int, d: int, k: int) -> float | None:
    """The design's flop count of one EM iteration, or None where it gives none.

    full: 4·N·K·D² (E-step solve + M-step scatter); diag: 8·N·K·D.
    """
    if covariance_type == "full":
        return 4.0 * n * k * d * d
    if covariance_type == "diag":
        return 8.0 * n * k * d
    return None


# ====================================================================== memory
def _read_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def current_rss_bytes() -> int:
    """Resident set size of this process now."""
    kb = _read_status_kb("VmRSS")
    if kb is not None:
        return kb * 1024
    import psutil  # not Linux

    return int(psutil.Process().memory_info().rss)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (Linux >= 4.0); False if impossible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return _read_status_kb("VmHWM") is not None
    except OSError:
        return False


def release_free_memory() -> bool:
    """Give freed heap memory back to the OS (glibc ``malloc_trim``); False if unavailable.

    Call it before :class:`PeakRSS`: memory freed earlier but still resident would
    otherwise be reused by the measured code without raising the RSS.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0)) or True
    except (OSError, AttributeError):
        return False


class PeakRSS:
    """Peak resident memory above the level at entry, of the code inside ``with``.

    On Linux the kernel's own high-water mark is reset at entry and read at exit
    (exact, no sampling). Elsewhere a thread samples the RSS every millisecond and
    ``ru_maxrss`` is consulted as well.

    >>> with PeakRSS() as peak:                # doctest: +SKIP
    ...     y = f(x)
    >>> peak.increase_bytes, peak.method        # doctest: +SKIP
    """

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.method = ""
        self.start_bytes = 0
        self.peak_bytes = 0
        self.increase_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sampled_peak = 0

    def _sample(self) -> None:
        while not self._stop.is_set():
            self._sampled_peak = max(self._sampled_peak, current_rss_bytes())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.start_bytes = current_rss_bytes()
        if _reset_peak_rss():
            self.method = "VmHWM (kernel high-water mark, reset at start)"
        else:
            self.method = "RSS sampled every %.0f ms + ru_maxrss" % (self.interval * 1e3)
            self._sampled_peak = self.start_bytes
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._thread is None:
            hwm = _read_status_kb("VmHWM")
            self.peak_bytes = (hwm or 0) * 1024
        else:
            self._stop.set()
            self._thread.join()
            maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            maxrss *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
            # ru_maxrss is a lifetime maximum: use it only when it rose during the block.
            peak = self._sampled_peak
            if maxrss > self.start_bytes:
                peak = max(peak, maxrss)
            self.peak_bytes = peak
        self.peak_bytes = max(self.peak_bytes, current_rss_bytes())
        self.increase_bytes = max(0, self.peak_bytes - self.start_bytes)


def run_in_fresh_process(
    module: str, function: str, kwargs: dict[str, Any], timeout: float = 600.0
) -> dict[str, Any]:
    """``module.function(**kwargs)`` in a new interpreter; its JSON-able return value.

    ``module`` is a file name in ``benchmarks/`` without ``.py``. The child prints
    its result as the last line of stdout; anything it prints before is echoed.
    """
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(BENCH_DIR)!r})\n"
        f"from {module} import {function} as _f\n"
        f"_r = _f(**json.loads({json.dumps(json.dumps(kwargs))}))\n"
        "print('\\n@@RESULT@@' + json.dumps(_r))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(BENCH_DIR.parent),
    )
    if proc.returncode != 0 or "@@RESULT@@" not in proc.stdout:
        raise RuntimeError(
            f"{module}.{function} failed in a subprocess (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    before, _, result = proc.stdout.rpartition("@@RESULT@@")
    return json.loads(result.strip().splitlines()[0])


# ===================================================================== output
def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None) -> str:
    """Plain text table; ``align`` is one character per column, 'l' or 'r'."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    align = align or "l" + "r" * (len(headers) - 1)

    def line(row: Sequence[str]) -> str:
        return "  ".join(
            cell.ljust(width) if a == "l" else cell.rjust(width)
            for cell, width, a in zip(row, widths, align)
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule] + [line(row) for row in cells[1:]])


def fmt_seconds(seconds: float | None) -> str:
    if seconds is None or not np.isfinite(seconds):
        return "n/a"
    if seconds >= 10:
        return f"{seconds:.1f}"
    if seconds >= 0.1:
        return f"{seconds:.3f}"
    return f"{seconds:.4f}"


def timed(function: Callable[[], Any]) -> tuple[Any, float]:
    """(result, wall seconds) of ``function()``."""
    start = time.perf_counter()
    result = function()
    return result, time.perf_counter() - start


# ============================================================ added for bench_out_of_core.py
# Everything below is additive: the helpers above are unchanged.
ITERATION_LAPSE = re.compile(r"Iteration\s+(\d+)\s+time lapse\s+([0-9.eE+-]+)s")


class IterationLapses:
    """Collect the per-iteration wall times an estimator prints with ``verbose=2``.

    Both scikit-learn and streamgmm print ``Iteration i  time lapse Xs`` for every
    iteration when ``verbose=2, verbose_interval=1``. Use as a context manager around
    ``fit``: stdout is captured (not shown) and parsed.

    >>> with IterationLapses() as log:          # doctest: +SKIP
    ...     model.fit(X)
    >>> log.lapses, log.steady_median()          # doctest: +SKIP
    """

    def __init__(self) -> None:
        import io

        self._buffer = io.StringIO()
        self._redirect: Any = None
        self.lapses: dict[int, float] = {}

    def __enter__(self) -> "IterationLapses":
        import contextlib

        self._redirect = contextlib.redirect_stdout(self._buffer)
        self._redirect.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._redirect.__exit__(*exc)
        for i, lapse in ITERATION_LAPSE.findall(self._buffer.getvalue()):
            self.lapses[int(i)] = float(lapse)

    @property
    def text(self) -> str:
        return self._buffer.getvalue()

    def ordered(self) -> list[float]:
        return [self.lapses[i] for i in sorted(self.lapses)]

    def steady(self) -> list[float]:
        """Lapses of iterations 2..n (iteration 1 includes initialisation)."""
        return [self.lapses[i] for i in sorted(self.lapses) if i >= 2]

    def steady_median(self) -> float | None:
        steady = self.steady()
        return float(np.median(steady)) if steady else None


def high_water_mark_bytes() -> int | None:
    """This process's peak RSS since it started (Linux ``VmHWM``), or None."""
    kb = _read_status_kb("VmHWM")
    if kb is not None:
        return kb * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(maxrss * (1 if sys.platform == "darwin" else 1024)) or None


def process_tree_rss(pid: int, include_root: bool = True) -> tuple[int, int]:
    """(summed RSS in bytes, number of processes) of ``pid`` and all its descendants.

    Processes that exit while being listed are skipped. ``include_root=False`` sums
    the descendants only (e.g. the worker processes of a ``distributed.LocalCluster``).
    RSS counts pages shared between processes once per process, so the sum can
    overstate the tree's real footprint a little; it never understates it.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        processes = root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0, 0
    if include_root:
        processes = [root] + processes
    total = count = 0
    for process in processes:
        try:
            total += process.memory_info().rss
            count += 1
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return total, count


class ProcessTreePeakRSS:
    """Peak of the summed RSS of a process tree, sampled from a background thread.

    ``pid`` is the root (default: this process); every ``interval`` seconds the RSS of
    the root and all its descendants (children, grandchildren, ...) is summed, and the
    largest sum is kept. Spikes shorter than ``interval`` can be missed: compare with
    the root's own kernel high-water mark where you can. ``timeline`` keeps the
    largest sum of every ``timeline_step`` seconds, as ``(seconds since start, bytes)``.

    >>> with ProcessTreePeakRSS(child.pid, interval=0.05) as tree:   # doctest: +SKIP
    ...     child.wait()
    >>> tree.peak_bytes, tree.peak_processes                          # doctest: +SKIP
    """

    def __init__(self, pid: int | None = None, interval: float = 0.05, include_root: bool = True,
                 timeline_step: float = 1.0) -> None:
        self.pid = os.getpid() if pid is None else pid
        self.interval = interval
        self.include_root = include_root
        self.timeline_step = timeline_step
        self.peak_bytes = 0
        self.peak_processes = 0
        self.max_processes = 0
        self.n_samples = 0
        self.timeline: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample_once(self, started: float) -> None:
        total, count = process_tree_rss(self.pid, self.include_root)
        if count == 0:
            return
        self.n_samples += 1
        self.max_processes = max(self.max_processes, count)
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count
        elapsed = time.perf_counter() - started
        step = round(elapsed // self.timeline_step * self.timeline_step, 3)
        if self.timeline and self.timeline[-1][0] == step:
            if total > self.timeline[-1][1]:
                self.timeline[-1] = (step, total)
        else:
            self.timeline.append((step, total))

    def _run(self) -> None:
        started = time.perf_counter()
        while not self._stop.is_set():
            self._sample_once(started)
            self._stop.wait(self.interval)

    def start(self) -> "ProcessTreePeakRSS":
        self._thread = threading.Thread(target=self._run, name="tree-rss-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> "ProcessTreePeakRSS":
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self

    def __enter__(self) -> "ProcessTreePeakRSS":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def as_dict(self) -> dict[str, Any]:
        return {
            "peak_bytes": self.peak_bytes,
            "peak_processes": self.peak_processes,
            "max_processes": self.max_processes,
            "n_samples": self.n_samples,
            "interval_s": self.interval,
            "include_root": self.include_root,
            "timeline_step_s": self.timeline_step,
            "timeline": self.timeline,
        }


def run_in_fresh_process_with_tree_rss(
    module: str,
    function: str,
    kwargs: dict[str, Any],
    interval: float = 0.05,
    timeout: float = 3600.0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Like :func:`run_in_fresh_process`, while sampling the child's process-tree RSS.

    Returns ``(result, tree)``: the function's JSON result and
    :meth:`ProcessTreePeakRSS.as_dict` for the child and all its descendants over the
    child's whole life (interpreter start, imports and the call), plus ``wall_s``.
    """
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(BENCH_DIR)!r})\n"
        f"from {module} import {function} as _f\n"
        f"_r = _f(**json.loads({json.dumps(json.dumps(kwargs))}))\n"
        "print('\\n@@RESULT@@' + json.dumps(_r))\n"
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(BENCH_DIR.parent),
    )
    sampler = ProcessTreePeakRSS(proc.pid, interval=interval).start()
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise
    finally:
        sampler.stop()
    tree = sampler.as_dict()
    tree["wall_s"] = time.perf_counter() - started
    if proc.returncode != 0 or "@@RESULT@@" not in stdout:
        raise RuntimeError(
            f"{module}.{function} failed in a subprocess (exit {proc.returncode}):\n"
            f"{stdout[-2000:]}\n{stderr[-4000:]}"
        )
    _, _, result = stdout.rpartition("@@RESULT@@")
    return json.loads(result.strip().splitlines()[0]), tree


def wait_for_low_load(
    threshold: float,
    max_wait: float = 600.0,
    poll: float = 15.0,
    log: Callable[[str], Any] | None = print,
) -> dict[str, Any]:
    """Wait until the 1-minute load average is below ``threshold`` (at most ``max_wait`` s).

    Returns ``{"reached": bool, "waited_s": float, "load": (1, 5, 15 min)}`` with the
    load average when the wait ended. Does nothing where ``os.getloadavg`` is missing.
    """
    started = time.perf_counter()
    try:
        load = os.getloadavg()
    except (AttributeError, OSError):
        return {"reached": True, "waited_s": 0.0, "load": None, "threshold": threshold}
    announced = False
    while load[0] >= threshold and time.perf_counter() - started < max_wait:
        if log is not None and not announced:
            log(f"waiting for the 1-min load average to drop below {threshold} "
                f"(now {load[0]:.2f}; at most {max_wait:.0f} s)")
            announced = True
        time.sleep(min(poll, max(0.0, max_wait - (time.perf_counter() - started))))
        load = os.getloadavg()
    waited = time.perf_counter() - started
    reached = load[0] < threshold
    if log is not None and announced:
        log(f"  ... {'reached' if reached else 'NOT reached'} after {waited:.0f} s: load average "
            f"{load[0]:.2f} (1 min), {load[1]:.2f} (5 min)")
    return {"reached": reached, "waited_s": waited, "load": tuple(load), "threshold": threshold}
