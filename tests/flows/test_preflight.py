"""Every input and destination is checked for real before any work, and before Prefect starts.

Regression tests of issue 13 through the real ``streamgmm`` command in subprocesses:
a score target that is (or holds, or lies in) its input, a registry root under a plain
file, where nothing can be created, on a read-only file system or under a file-size
limit, a predictions target under a plain file, a mistyped data path, a stream state
inside its landing folder. Each must exit 2 naming the config key, leave the input
as it was and publish nothing.

"Before Prefect starts" is checked without timing assertions: every command runs
with a fresh, empty ``PREFECT_HOME``, and Prefect's ephemeral API creates its
database (``prefect.db``) there when it starts; it must not exist afterwards, and no
Prefect log line may appear. The seconds each refusal took are printed (``-s``).
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streamgmm.registry import ModelRegistry

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")
TIMEOUT = 300


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        h.update(str(file.relative_to(path)).encode())
        h.update(file.read_bytes())
    return h.hexdigest()


def _refused_before_prefect(
    args: list[str], cwd: Path, *, wrapper: list[str] = (), preexec_fn: Callable[[], Any] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``streamgmm ARGS``; assert exit 2 with Prefect never started; the result."""
    home = cwd / "prefect-home"
    env = {**os.environ, "PREFECT_HOME": str(home), "MPLBACKEND": "Agg",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    started = time.perf_counter()
    result = subprocess.run([*wrapper, STREAMGMM, *args], cwd=cwd, env=env, capture_output=True,
                            text=True, timeout=TIMEOUT, preexec_fn=preexec_fn)
    seconds = time.perf_counter() - started
    print(f"streamgmm {' '.join(args[:1])}: refused in {seconds:.1f} s")
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert not (home / "prefect.db").exists(), "Prefect's API started before the refusal"
    output = result.stdout + result.stderr
    for line in ("Starting temporary server", "Beginning flow run", "prefect.flow_runs", "Traceback"):
        assert line not in output, output
    return result


@pytest.fixture
def own_data(tmp_path: Path, small_zarr: Path) -> Path:
    """A copy of the small Zarr store that this test may (fail to) damage."""
    return Path(shutil.copytree(small_zarr, tmp_path / "data" / "in.zarr"))


# ============================================================ outputs never touch inputs
@pytest.mark.parametrize(
    ("target", "relation"),
    [
        ("data/in.zarr", "is the input data.uri"),             # relative to the config
        ("data", "contains the input data.uri"),                # the folder holding it
        ("link.zarr", "is the input data.uri"),                 # a symlink to it
        ("data/in.zarr/X", "lies inside the input data.uri"),  # inside it
    ],
)
def test_score_onto_its_own_input_with_overwrite_exits_2_and_keeps_the_input(
    own_data, published_registry, score_document, write_config, tmp_path, target, relation
):
    os.symlink(own_data, tmp_path / "link.zarr")
    before = _digest(tmp_path / "data")
    document = score_document({"uri": "data/in.zarr", "variable": "X"}, published_registry,
                              outputs={"predictions": target, "overwrite": True})
    config = write_config(document, "score.yaml")
    result = _refused_before_prefect(["score", str(config)], tmp_path)
    assert "score: invalid config" in result.stderr
    assert f"outputs.predictions: the output '{tmp_path / target}'" in result.stderr
    assert relation in result.stderr and str(own_data) in result.stderr
    assert "neither is, contains nor lies inside an input" in result.stderr
    assert _digest(tmp_path / "data") == before, "the input was modified"


def test_the_default_score_target_is_checked_like_any_other(
    own_data, published_registry, score_document, write_config, tmp_path
):
    # The default is <input>-scores.zarr beside the input; a user's folder there is not replaced.
    foreign = tmp_path / "data" / "in-scores.zarr"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    document = score_document({"uri": "data/in.zarr"}, published_registry, outputs={"overwrite": True})
    result = _refused_before_prefect(["score", str(write_config(document, "score.yaml"))], tmp_path)
    assert "outputs.predictions (default: beside the input)" in result.stderr
    assert "'keep.txt'" in result.stderr and "even with overwrite" in result.stderr
    assert (foreign / "keep.txt").read_text() == "mine"


# ============================================================ destinations probed for real
def test_registry_root_under_a_plain_file_exits_2(small_zarr, batch_fit_document, write_config, tmp_path):
    (tmp_path / "file").write_text("x")
    document = batch_fit_document({"uri": str(small_zarr)}, registry={"root": "file/registry", "model": "m"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert "batch_fit: invalid config" in result.stderr
    assert f"registry.root: '{tmp_path / 'file' / 'registry'}' lies under '{tmp_path / 'file'}'" in result.stderr
    assert "plain file" in result.stderr and (tmp_path / "file").read_text() == "x"


def test_registry_root_where_no_folder_can_be_created_exits_2(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    # Tests run as root, whom chmod does not stop: /proc refuses new entries to everyone.
    root = f"/proc/streamgmm-test-{os.getpid()}/registry"
    document = batch_fit_document({"uri": str(small_zarr)}, registry={"root": root, "model": "m"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert f"registry.root: the folder '{root}' cannot be created" in result.stderr


def _can_mount_in_a_user_namespace() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.mark.skipif(not _can_mount_in_a_user_namespace(), reason="needs unshare -rm (user namespaces)")
def test_registry_root_on_a_read_only_file_system_exits_2(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    """A real read-only mount: a tmpfs mounted ``ro`` in a private mount namespace.

    ``unshare -rm`` needs no privilege (user namespaces); the mount exists only for the
    command, and even root gets EROFS writing there.
    """
    read_only = tmp_path / "ro"
    read_only.mkdir()
    document = batch_fit_document({"uri": str(small_zarr)},
                                  registry={"root": str(read_only / "registry"), "model": "m"})
    wrapper = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', str(read_only)]
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path, wrapper=wrapper)
    assert "registry.root:" in result.stderr and "Read-only file system" in result.stderr


def test_a_file_size_limit_is_found_before_the_fit(small_zarr, batch_fit_document, write_config, tmp_path):
    """RLIMIT_FSIZE=0 for the command: folders can be made, but not one byte written."""
    config = write_config(batch_fit_document({"uri": str(small_zarr)}))

    def no_file_may_grow() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))

    result = _refused_before_prefect(["fit", str(config)], tmp_path, preexec_fn=no_file_may_grow)
    assert "registry.root: writing in" in result.stderr and "File too large" in result.stderr
    assert ModelRegistry(tmp_path / "registry").list_models() == []


def test_predictions_under_a_plain_file_exit_2_before_any_version_is_published(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    (tmp_path / "file").write_text("x")
    document = batch_fit_document({"uri": str(small_zarr)},
                                  outputs={"predictions": "file/predictions.zarr", "reports": "reports"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert "outputs.predictions:" in result.stderr and "plain file" in result.stderr
    assert ModelRegistry(tmp_path / "registry").list_versions("small") == []
    assert not (tmp_path / "registry").exists(), "a failed check created the registry"


def test_a_mistyped_data_path_exits_2_before_prefect(batch_fit_document, write_config, tmp_path):
    document = batch_fit_document({"uri": "dta/small.zarr"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert f"data.uri: the data cannot be opened: No such file or directory: '{tmp_path / 'dta'}" in result.stderr
    assert not (tmp_path / "registry").exists()


def test_a_missing_variable_exits_2_naming_it(small_zarr, batch_fit_document, write_config, tmp_path):
    document = batch_fit_document({"uri": str(small_zarr), "variable": "Y"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert "data.uri: the data cannot be opened" in result.stderr
    assert "no array named 'Y'" in result.stderr and "data.variable" in result.stderr


def test_two_outputs_of_one_run_may_not_share_a_folder(small_zarr, batch_fit_document, write_config, tmp_path):
    document = batch_fit_document({"uri": str(small_zarr)},
                                  outputs={"predictions": "registry/p.zarr", "reports": "reports"})
    result = _refused_before_prefect(["fit", str(write_config(document))], tmp_path)
    assert "lies inside the output registry.root" in result.stderr


@pytest.mark.parametrize("state, outputs, refusal", [
    ("land/state", "", "online.state: .* lies inside the input source.uri"),
    ("state", "outputs: {reports: state/plots}\n",
     "outputs.reports: .* lies inside the output online.state"),
], ids=["state-inside-the-landing-folder", "reports-inside-the-state"])
def test_stream_destinations_are_checked_exits_2(tmp_path, state, outputs, refusal):
    (tmp_path / "land").mkdir()
    (tmp_path / "s.yaml").write_text(
        "source: {kind: landing-folder, uri: land}\n"
        "model: {n_components: 2, covariance_type: diag, seed: 0}\n"
        f"online: {{batch_size: 100, state: {state}}}\n" + outputs
    )
    result = _refused_before_prefect(["stream", "s.yaml"], tmp_path)
    assert re.search(refusal, result.stderr), result.stderr
    assert list((tmp_path / "land").iterdir()) == [] and not (tmp_path / "state").exists()


# ============================================================ inside the flow
@pytest.mark.usefixtures("prefect_harness")
def test_the_flow_publishes_nothing_when_a_destination_fails(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    import importlib

    from streamgmm.config import ConfigError, parse_config

    (tmp_path / "file").write_text("x")
    document = batch_fit_document({"uri": str(small_zarr)},
                                  outputs={"predictions": "file/p.zarr", "reports": "reports"})
    config = parse_config(document, "batch_fit", base_dir=tmp_path)
    flows_module = importlib.import_module("streamgmm.orchestration.batch_fit")
    with pytest.raises(ConfigError, match="outputs.predictions"):
        flows_module.batch_fit_with_config(config)
    assert ModelRegistry(tmp_path / "registry").list_versions("small") == []


@pytest.mark.usefixtures("prefect_harness")
def test_a_rerun_with_overwrite_replaces_only_what_the_first_run_marked(
    small_zarr, batch_fit_document, write_config, tmp_path
):
    import importlib

    import zarr

    from streamgmm.config import ConfigError, parse_config
    from streamgmm.io.destinations import read_marker

    document = batch_fit_document(
        {"uri": str(small_zarr)},
        outputs={"predictions": "predictions.zarr", "overwrite": True, "reports": "reports"},
        checkpoint={"folder": "checkpoint"},
    )
    document["model"]["max_iter"] = 3
    config = parse_config(document, "batch_fit", base_dir=tmp_path)
    flows_module = importlib.import_module("streamgmm.orchestration.batch_fit")
    first = flows_module.batch_fit_with_config(config)
    kinds = {name: read_marker(tmp_path / name)["kind"]
             for name in ("registry", "predictions.zarr", "reports", "checkpoint")}
    assert kinds == {"registry": "registry", "predictions.zarr": "predictions", "reports": "report",
                     "checkpoint": "checkpoint"}
    second = flows_module.batch_fit_with_config(config)  # overwrite: our own predictions
    assert (first.version, second.version) == (1, 2)
    assert zarr.open_group(str(tmp_path / "predictions.zarr"), mode="r").attrs["streamgmm_output"]["kind"] == "predictions"

    # The same predictions path now holding a user's file is refused, and nothing is published.
    (tmp_path / "predictions.zarr" / "notes.txt").write_text("mine")
    zarr.open_group(str(tmp_path / "predictions.zarr"), mode="r+").attrs["streamgmm_output"] = {"kind": "x"}
    with pytest.raises(ConfigError, match="outputs.predictions: .*cannot be trusted"):
        flows_module.batch_fit_with_config(config)
    assert ModelRegistry(tmp_path / "registry").list_versions("small") == [1, 2]
    assert (tmp_path / "predictions.zarr" / "notes.txt").read_text() == "mine"


def test_the_shipped_configs_pass_the_destination_rules():
    """The rules must not refuse the configs the project ships (data may be absent: no input checks)."""
    from streamgmm.config import load_config
    from streamgmm.preflight import check_job

    repo = Path(__file__).resolve().parents[2]
    kinds = {"batch_fit": "batch_fit", "batch_fit_parquet": "batch_fit", "select_k": "select_k",
             "batch_fit_bayesian": "batch_fit", "stream_bayesian": "online_update",
             "score": "score", "stream_sensors": "online_update", "stream_speech": "online_update",
             "choosing_k": "select_k", "customers": "batch_fit", "heights": "batch_fit",
             "image_segmentation": "batch_fit", "large_image": "batch_fit"}
    files = sorted(repo.glob("configs/**/*.yaml"))
    assert {f.stem for f in files} <= set(kinds), "a new shipped config: add its kind here"
    for file in files:
        check_job(load_config(file, kind=kinds[file.stem]), str(file), inputs=False, probe=False)


def test_every_problem_of_a_stream_config_is_reported_at_once(tmp_path):
    from streamgmm.config import ConfigError, parse_config
    from streamgmm.preflight import check_job

    (tmp_path / "registry" / "models").mkdir(parents=True)  # an (empty) registry of an earlier version
    config = parse_config(
        {"source": {"kind": "landing-folder", "uri": "no-such-landing"},
         "model": {"n_components": 2, "start_from": {"model": "absent"}},
         "online": {"state": "state"},
         "registry": {"root": "registry", "model": "s"}},
        "online_update", base_dir=tmp_path,
    )
    with pytest.raises(ConfigError) as error:
        check_job(config, "s.yaml")
    problems = error.value.problems
    assert any(p.startswith("source.uri: the landing folder") for p in problems), problems
    assert any(p.startswith("model.start_from.model:") for p in problems), problems
    assert not (tmp_path / "state").exists(), "no destination is created while inputs are wrong"
