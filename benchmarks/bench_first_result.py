"""Time to a first result: the fixed costs of ``streamgmm fit`` and ``streamgmm score``, before and after.

    git worktree add /tmp/streamgmm-before <commit>        # the code to compare with
    .venv/bin/python benchmarks/bench_first_result.py --before /tmp/streamgmm-before
    .venv/bin/python benchmarks/bench_first_result.py --before /tmp/streamgmm-before --repeats 3

Each side (``before``: that checkout; ``after``: this one) runs the README's main job
as a user would — the ``streamgmm`` console script, with ``PYTHONPATH`` set to the
side's checkout, each side with its own shipped ``configs/batch_fit.yaml`` and
``configs/score.yaml`` (copied into a temporary folder whose ``data/generated``
holds the example data, 200,000 x 8 rows) — first with a new ``PREFECT_HOME``
(Prefect creates its database: a machine's first run), then ``--repeats`` times warm,
the two sides alternating so that both meet the same machine load. The table
shows the median of the warm runs.

Phases, from the timestamps of the run's log lines (what happens between them):

- interpreter + imports: a separate ``python -c "import streamgmm.cli.fit"`` (or ``.score``);
- config + preflight: from there to the line starting Prefect's API server, or (when
  the command started it first thing) taking it into use;
- Prefect API start: until the flow run begins (with a local cluster started meanwhile,
  after; with a server started first thing, only what is left of its start);
- flow start + data open: the ``load-config`` and ``open-data`` tasks;
- cluster start: until the fit starts (``compute_scheduler``);
- EM passes: the fit's own time (``Fitted in X s``): not a fixed cost;
- evaluate pass, registry publish, predictions write, plots + artifacts: their tasks;
- flow end + shutdown: from the last task to the end of the process (cluster and
  server stopped, interpreter exit).

The fixed overhead is the whole command's wall time minus the EM passes. Then the
results of the two sides are compared: the model arrays (bitwise), the registry
version's files and metadata, the predictions and the scores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, format_table, wait_for_low_load  # noqa: E402

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
TIMEOUT = 600
EXAMPLE = REPO / "data" / "generated" / "example.zarr"

#: Log lines that mark the phases: name -> pattern (the first match counts).
MARKS = {
    # The server is started (before: Prefect's, then streamgmm's) or, started with the
    # command, taken into use: either way the line comes right after the preflight.
    "api": r"Starting temporary server|Starting Prefect's temporary API server"
           r"|Using Prefect's temporary API server",
    "flow": r"Beginning flow run",
    "opened": r"Task run 'open-data-\w+' - Finished in state",
    "fitting": r"Task run 'fit-\w+' - Fitting K=",
    "fit": r"Task run 'fit-\w+' - Finished in state",
    "evaluated": r"Task run 'evaluate-\w+' - Finished in state",
    "published": r"Task run 'publish-\w+' - Finished in state",
    "model": r"Task run 'load-model-\w+' - Finished in state",
    "predicted": r"Task run 'write-predictions-\w+' - Finished in state",
    "summarised": r"Task run 'summarise-\w+' - Finished in state",
    "plotted": r"Task run 'plots-\w+' - Finished in state",
    "artifacts": r"Task run 'artifacts-\w+' - Finished in state",
    "flow_done": r"Flow run '[\w-]+' - Finished in state",
}
STAMP = re.compile(r"^(\d\d):(\d\d):(\d\d\.\d+) \| ")

FIT_PHASES = [
    ("interpreter + imports", None, None),
    ("config + preflight", "start", "api"),
    ("Prefect API start", "api", "flow"),
    ("flow start + data open", "flow", "opened"),
    ("cluster start", "opened", "fitting"),
    ("EM passes", None, None),
    ("evaluate pass", "fit", "evaluated"),
    ("registry publish", "evaluated", "published"),
    ("predictions write", "published", "predicted"),
    ("plots + artifacts", "predicted", "artifacts"),
    ("flow end + shutdown", "artifacts", "end"),
]
SCORE_PHASES = [
    ("interpreter + imports", None, None),
    ("config + preflight", "start", "api"),
    ("Prefect API start", "api", "flow"),
    ("flow start + model + data open", "flow", "opened"),
    ("predictions write (one pass)", "opened", "predicted"),
    ("summary", "predicted", "summarised"),
    ("artifacts", "summarised", "artifacts"),
    ("flow end + shutdown", "artifacts", "end"),
]


def _seconds_of_day(t: float) -> float:
    moment = datetime.fromtimestamp(t)
    return moment.hour * 3600 + moment.minute * 60 + moment.second + moment.microsecond / 1e6


def _env(code: Path, prefect_home: Path) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(code), "PREFECT_HOME": str(prefect_home),
           "MPLBACKEND": "Agg"}
    env.pop("PREFECT_API_URL", None)
    return env


def import_seconds(code: Path, module: str) -> float:
    """Wall time of a fresh interpreter importing the command's module."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], env=_env(code, Path(tempfile.gettempdir())),
                   check=True, timeout=TIMEOUT)
    return time.perf_counter() - started


def run_command(code: Path, folder: Path, prefect_home: Path, command: str, config: str) -> dict[str, Any]:
    """Run ``streamgmm COMMAND CONFIG``; its wall time and the times of its log marks."""
    started = time.time()
    result = subprocess.run(
        [STREAMGMM, command, config], cwd=folder, env=_env(code, prefect_home),
        capture_output=True, text=True, timeout=TIMEOUT,
    )
    ended = time.time()
    if result.returncode != 0:
        raise RuntimeError(f"{command} failed ({code}):\n{result.stderr[-4000:]}")
    marks = {"start": _seconds_of_day(started), "end": _seconds_of_day(ended)}
    for line in result.stderr.splitlines():
        stamp = STAMP.match(line)
        if not stamp:
            continue
        at = int(stamp.group(1)) * 3600 + int(stamp.group(2)) * 60 + float(stamp.group(3))
        for name, pattern in MARKS.items():
            if name not in marks and re.search(pattern, line):
                marks[name] = at
    fitted = re.search(r"Fitted in ([\d.]+) s", result.stderr)
    return {"wall": ended - started, "marks": marks, "em": float(fitted.group(1)) if fitted else 0.0}


def phases(run: dict[str, Any], imports: float, table: list[tuple[str, str | None, str | None]]) -> dict[str, float]:
    """Seconds per phase of one run (a phase whose marks are missing takes 0)."""
    marks = run["marks"]
    out: dict[str, float] = {}
    for name, first, last in table:
        if name == "interpreter + imports":
            out[name] = imports
        elif name == "EM passes":
            out[name] = run["em"]
        elif first in marks and last in marks:
            out[name] = max(0.0, marks[last] - marks[first])
        else:
            out[name] = 0.0
    out["config + preflight"] = max(0.0, out.get("config + preflight", 0.0) - imports)
    out["whole command"] = run["wall"]
    out["fixed overhead (all but EM passes)"] = run["wall"] - run["em"]
    return out


def prepare_side(code: Path, root: Path) -> Path:
    """A folder with the side's shipped configs and the example data beside them."""
    folder = root
    (folder / "configs").mkdir(parents=True)
    (folder / "data" / "generated").mkdir(parents=True)
    for name in ("batch_fit.yaml", "score.yaml"):
        shutil.copy(code / "configs" / name, folder / "configs" / name)
    (folder / "data" / "generated" / "example.zarr").symlink_to(EXAMPLE)
    return folder


def compare_results(before: Path, after: Path) -> list[tuple[str, str]]:
    """The two sides' last model versions, predictions and scores, compared."""
    import numpy as np
    import zarr

    rows: list[tuple[str, str]] = []

    def last_version(folder: Path) -> Path:
        versions = folder / "registry" / "models" / "example"
        return max((p for p in versions.iterdir() if p.name.isdigit()), key=lambda p: int(p.name))

    vb, va = last_version(before), last_version(after)
    pb, pa = np.load(vb / "parameters.npz"), np.load(va / "parameters.npz")
    same = sorted(pb.files) == sorted(pa.files) and all(
        np.array_equal(pb[k], pa[k]) and pb[k].dtype == pa[k].dtype for k in pb.files
    )
    rows.append(("model arrays (parameters.npz), bitwise", "equal" if same else "DIFFERENT"))
    mb, ma = (json.loads((v / "metadata.json").read_text()) for v in (vb, va))
    rows.append(("parameters.npz sha256", "equal" if mb["files"] == ma["files"] else "different"))
    volatile = {"created_at", "content_sha256", "files"}
    differing = []
    for key in sorted(set(mb) | set(ma)):
        if key in volatile:
            continue
        if key in ("training_config", "data_source", "metrics"):
            for sub in sorted(set(mb.get(key) or {}) | set(ma.get(key) or {})):
                if (mb.get(key) or {}).get(sub) != (ma.get(key) or {}).get(sub):
                    differing.append(f"{key}.{sub}")
        elif mb.get(key) != ma.get(key):
            differing.append(key)
    rows.append(("metadata.json fields that differ (besides created_at)",
                 ", ".join(differing) or "none"))
    for name in ("example-predictions.zarr", "example-scores.zarr"):
        gb, ga = (zarr.open_group(str(f / "data" / "generated" / name), mode="r") for f in (before, after))
        equal = all(
            np.array_equal(gb[a][...], ga[a][...], equal_nan=True)
            for a in ("labels", "responsibilities", "log_likelihood")
        )
        rows.append((f"{name} (labels, responsibilities, log_likelihood)", "equal" if equal else "DIFFERENT"))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout of the code to compare with")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs per side (default 3)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders")
    args = parser.parse_args(argv)
    sides = {"before": args.before.resolve(), "after": REPO}
    if not EXAMPLE.exists():
        subprocess.run([sys.executable, str(REPO / "data" / "make_example.py")], check=True)
    wait_for_low_load(1.5, max_wait=300)
    print(f"load average at start: {os.getloadavg()}")

    root = Path(tempfile.mkdtemp(prefix="bench-first-result-"))
    folders = {side: prepare_side(code, root / side) for side, code in sides.items()}
    homes = {side: root / f"prefect-home-{side}" for side in sides}
    imports = {
        (side, command): import_seconds(code, f"streamgmm.cli.{command}")
        for side, code in sides.items() for command in ("fit", "score")
    }
    runs: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for repeat in range(1 + args.repeats):
        kind = "first" if repeat == 0 else "warm"
        for side, code in sides.items():
            for command, config in (("fit", "configs/batch_fit.yaml"), ("score", "configs/score.yaml")):
                run = run_command(code, folders[side], homes[side], command, config)
                runs.setdefault((side, command, kind), []).append(run)
                print(f"  {kind:5s} {side:6s} {command:5s} {run['wall']:6.2f} s", flush=True)

    for command, table in (("fit", FIT_PHASES), ("score", SCORE_PHASES)):
        per = {
            (side, kind): [phases(r, imports[(side, command)], table) for r in runs[(side, command, kind)]]
            for side in sides for kind in ("first", "warm")
        }
        names = [name for name, _, _ in table] + ["whole command", "fixed overhead (all but EM passes)"]
        rows = []
        for name in names:
            warm_b = statistics.median(p[name] for p in per[("before", "warm")])
            warm_a = statistics.median(p[name] for p in per[("after", "warm")])
            rows.append((
                name,
                f"{per[('before', 'first')][0][name]:.2f}", f"{per[('after', 'first')][0][name]:.2f}",
                f"{warm_b:.2f}", f"{warm_a:.2f}",
                f"{warm_a / warm_b:.2f}" if warm_b > 0.005 else "-",
            ))
        print(f"\nstreamgmm {command} (seconds; warm: median of {args.repeats})")
        print(format_table(
            ["phase", "first before", "first after", "warm before", "warm after", "after/before"], rows,
        ))
    print("\nresults, before vs after")
    print(format_table(["what", "compared"], compare_results(folders["before"], folders["after"])))
    if args.keep:
        print(f"\nkept {root}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
