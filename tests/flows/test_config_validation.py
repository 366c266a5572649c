"""Config validation: every kind of mistake gets a message with the file, key path and value.

No Prefect here: the config layer is plain library code.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

import streamgmm
from streamgmm.config import (
    BatchFitConfig,
    ConfigError,
    ScoreConfig,
    SelectKConfig,
    load_config,
    parse_config,
)
from streamgmm.validation import check_estimator_parameters

REPO = Path(__file__).resolve().parents[2]

VALID = """\
data:
  uri: data.zarr
model:
  n_components: 4
registry:
  model: demo
"""


def _write(tmp_path: Path, text: str, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message  # every message names the file
    assert isinstance(caught.value, (streamgmm.StreamGMMError, ValueError))
    return message


def _with(section: str, extra: str) -> str:
    """VALID with lines added to one section (or a new section)."""
    if f"{section}:\n" in VALID:
        return VALID.replace(f"{section}:\n", f"{section}:\n{textwrap.indent(extra, '  ')}", 1)
    return VALID + f"{section}:\n{textwrap.indent(extra, '  ')}"


# --------------------------------------------------------------------------- valid configs
def test_minimal_config_gets_defaults_and_resolves_paths(tmp_path):
    config = load_config(_write(tmp_path, VALID))
    assert isinstance(config, BatchFitConfig)
    assert config.data.uri == str(tmp_path / "data.zarr")
    assert config.registry.root == str(tmp_path / "registry")
    assert config.outputs.reports == str(tmp_path / "reports")
    assert config.outputs.predictions is None and config.checkpoint.folder is None
    assert config.compute.scheduler == "auto"
    assert config.model.seed == 0 and config.model.covariance_type == "full"


def test_relative_paths_follow_the_config_file_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "configs").mkdir()
    path = _write(tmp_path / "configs", _with("outputs", "predictions: ../out/p.zarr\n"))
    monkeypatch.chdir(REPO)
    config = load_config(path)
    assert config.data.uri == str(tmp_path / "configs" / "data.zarr")
    assert config.outputs.predictions == str(tmp_path / "out" / "p.zarr")


def test_environment_variables_home_and_urls(tmp_path, monkeypatch):
    monkeypatch.setenv("SGMM_TEST_DATA", "/srv/data")
    monkeypatch.delenv("SGMM_TEST_UNSET", raising=False)
    text = VALID.replace("uri: data.zarr", "uri: ${SGMM_TEST_DATA}/big.zarr") + textwrap.dedent(
        """\
        outputs:
          predictions: ${SGMM_TEST_UNSET:-~/predictions}/p.zarr
        checkpoint:
          folder: s3://bucket/ckpt
        """
    )
    config = load_config(_write(tmp_path, text))
    assert config.data.uri == "/srv/data/big.zarr"
    assert config.outputs.predictions == os.path.join(os.path.expanduser("~"), "predictions/p.zarr")
    assert config.checkpoint.folder == "s3://bucket/ckpt"


def test_yaml_numbers_and_random_state_alias(tmp_path):
    config = load_config(_write(tmp_path, _with("model", "tol: 1e-4\nreg_covar: 1e-9\nrandom_state: 7\n")))
    assert config.model.tol == 1e-4 and config.model.reg_covar == 1e-9
    assert config.model.seed == 7


def test_config_is_frozen_and_maps_to_estimator_parameters(tmp_path):
    config = load_config(_write(tmp_path, VALID))
    with pytest.raises(ValidationError, match="frozen"):
        config.model.tol = 0.5  # type: ignore[misc]
    params = config.model.estimator_params()
    check_estimator_parameters(streamgmm.GaussianMixture(**params).get_params())
    assert params["random_state"] == 0 and params["n_components"] == 4


@pytest.mark.parametrize("name", ["batch_fit.yaml", "batch_fit_parquet.yaml"])
def test_shipped_configs_are_valid(name):
    config = load_config(REPO / "configs" / name)
    assert config.data.uri.startswith(str(REPO / "data" / "generated"))
    assert config.registry.root == str(REPO / "registry")


# --------------------------------------------------------------------------- mistakes
MISTAKES = [
    # unknown keys, with a suggestion and the allowed keys
    (_with("model", "covarience_type: full\n"),
     ["model.covarience_type", "did you mean 'covariance_type'", "init_params"]),
    (VALID + "extras:\n  a: 1\n", ["extras", "unknown key", "registry"]),
    (_with("data", "colums: [a]\n"), ["data.colums", "did you mean 'columns'"]),
    # wrong types
    (_with("model", "max_iter: ten\n"), ["model.max_iter", "'ten'", "integer"]),
    (_with("model", "max_iter: '10'\n"), ["model.max_iter", "'10'", "integer"]),
    (_with("model", "tol: true\n"), ["model.tol", "True", "number"]),
    (_with("outputs", "overwrite: 'yes'\n"), ["outputs.overwrite", "'yes'", "boolean"]),
    (_with("data", "columns: x0\n"), ["data.columns", "'x0'", "list"]),
    (VALID.replace("n_components: 4", "n_components: four"),
     ["model.n_components", "'four'", "integer >= 1"]),
    (VALID.replace("data:\n  uri: data.zarr\n", "data: data.zarr\n"),
     ["data", "'data.zarr'", "mapping"]),
    # bad enumerations
    (_with("model", "covariance_type: fulll\n"),
     ["model.covariance_type", "'fulll'", "'full', 'tied', 'diag' or 'spherical'"]),
    (_with("model", "init_params: kmean\n"), ["model.init_params", "'kmean'", "'k-means++'"]),
    (_with("data", "nan_policy: ignore\n"), ["data.nan_policy", "'ignore'", "'drop'"]),
    (_with("data", "format: csv\n"), ["data.format", "'csv'", "'parquet'"]),
    (_with("model", "dtype: float16\n"), ["model.dtype", "'float16'", "'float32'"]),
    (_with("compute", "scheduler: thread\n"),
     ["compute.scheduler", "'thread'", "'local-cluster'", "tcp://"]),
    # missing required keys
    (VALID.replace("registry:\n  model: demo\n", "registry:\n  root: r\n"),
     ["registry.model", "missing"]),
    (VALID.replace("data:\n  uri: data.zarr\n", ""), ["data", "missing"]),
    (VALID.replace("  n_components: 4\n", "  tol: 0.1\n"), ["model.n_components", "missing"]),
    # negative or zero numbers
    (_with("model", "n_init: -1\n"), ["model.n_init", "-1", "integer >= 1"]),
    (_with("model", "reg_covar: -1.0e-6\n"), ["model.reg_covar", "-1e-06", "0"]),
    (_with("model", "tol: -0.5\n"), ["model.tol", "-0.5"]),
    (_with("model", "seed: -3\n"), ["model.seed", "-3"]),
    (VALID.replace("n_components: 4", "n_components: 0"), ["model.n_components", "0"]),
    (_with("compute", "scheduler: local-cluster\nn_workers: 0\n"), ["compute.n_workers", "0"]),
    (_with("compute", "scheduler: local-cluster\nmemory_limit: -5\n"),
     ["compute.memory_limit", "-5", "4GB"]),
    (_with("compute", "persist: 'yes'\n"), ["compute.persist", "'yes'", "'auto'"]),
    (_with("compute", "persist: 1\n"), ["compute.persist", "1", "'auto'"]),
    # environment variables
    (VALID.replace("uri: data.zarr", "uri: ${SGMM_TEST_UNSET}/x.zarr"),
     ["data.uri", "SGMM_TEST_UNSET", "not set", "${SGMM_TEST_UNSET:-default}"]),
    (VALID.replace("uri: data.zarr", "uri: ${1BAD}/x.zarr"), ["data.uri", "${1BAD}", "NAME"]),
    # values that do not fit together or the job
    (VALID.replace("n_components: 4", "n_components: [2, 4]"),
     ["model.n_components", "[2, 4]", "select_k"]),
    (_with("data", "format: zarr\ncolumns: [a]\n"), ["data.columns", "data.variable"]),
    (_with("data", "format: parquet\nvariable: X\n"), ["data.variable", "data.columns"]),
    (_with("compute", "scheduler: threads\nthreads_per_worker: 2\n"),
     ["compute.threads_per_worker", "'local-cluster'"]),
    (_with("compute", "scheduler: tcp://10.0.0.1:8786\nn_workers: 4\n"),
     ["compute.n_workers", "tcp://10.0.0.1:8786"]),
    (_with("model", "seed: 1\nrandom_state: 2\n"), ["model", "seed", "random_state", "only one"]),
    (VALID.replace("model: demo", "model: my model"), ["registry.model", "'my model'"]),
    (_with("registry", "aliases: [latest]\n"), ["registry.aliases", "latest"]),
    (_with("outputs", "predictions: s3://bucket/p.zarr\n"), ["outputs.predictions", "URL"]),
]


@pytest.mark.parametrize(
    ("text", "expected"), MISTAKES, ids=[f"{i:02d}-{e[0]}" for i, (_, e) in enumerate(MISTAKES)]
)
def test_each_mistake_names_key_path_value_and_what_is_allowed(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("SGMM_TEST_UNSET", raising=False)
    message = _error(tmp_path, text)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


def test_several_mistakes_are_reported_together(tmp_path):
    text = VALID.replace("n_components: 4", "n_components: 4\n  tol: -1\n  max_iter: 0") + (
        "compute:\n  shceduler: threads\n"
    )
    message = _error(tmp_path, text)
    assert "3 problems" in message
    for fragment in ("model.tol", "model.max_iter", "compute.shceduler"):
        assert fragment in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:\n  uri: a\n  uri: b\nmodel: {n_components: 2}\n", ["'uri' appears twice", "lines 2 and 3"]),
        ("data:\n  uri: [unclosed\n", ["line", "invalid YAML"]),
        ("", ["empty"]),
        ("- just\n- a list\n", ["(top level)", "mapping", "list"]),
    ],
)
def test_unreadable_yaml(tmp_path, text, expected):
    message = _error(tmp_path, text)
    for fragment in expected:
        assert fragment in message


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match="no-such.yaml.*no such config file"):
        load_config(tmp_path / "no-such.yaml")


def test_unknown_kind():
    with pytest.raises(ValueError, match="'batch_fit'"):
        load_config("configs/batch_fit.yaml", kind="nightly")


def test_parse_config_resolves_against_base_dir(tmp_path):
    document = {"data": {"uri": "d.zarr"}, "model": {"n_components": 2}, "registry": {"model": "m"}}
    config = parse_config(document, base_dir=tmp_path)
    assert config.data.uri == str(tmp_path / "d.zarr")
    with pytest.raises(ConfigError, match=r"<mapping>: model.n_components"):
        parse_config({**document, "model": {"n_components": -2}})


# --------------------------------------------------------------------------- select_k and score
SELECT_K = """\
data:
  uri: data.zarr
model:
  n_components: [2, 4, 8]
  covariance_type: [full, diag]
registry:
  model: demo
"""

SCORE = """\
data:
  uri: data.zarr
registry:
  model: demo
"""


def _kind_error(tmp_path: Path, text: str, kind: str) -> str:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, kind=kind)
    message = str(caught.value)
    assert str(path) in message
    return message


@pytest.mark.parametrize("name", ["select_k.yaml", "score.yaml"])
def test_shipped_select_k_and_score_configs_are_valid(name):
    kind = name.removesuffix(".yaml")
    config = load_config(REPO / "configs" / name, kind=kind)
    assert config.data.uri == str(REPO / "data" / "generated" / "example.zarr")
    assert config.registry.root == str(REPO / "registry")


def test_select_k_candidates_and_defaults(tmp_path):
    config = load_config(_write(tmp_path, SELECT_K), kind="select_k")
    assert isinstance(config, SelectKConfig)
    assert config.model.candidate_models == (
        (2, "full"), (4, "full"), (8, "full"), (2, "diag"), (4, "diag"), (8, "diag"),
    )
    assert config.selection.criterion == "bic"
    params = config.model.common_params()
    assert "n_components" not in params and "covariance_type" not in params
    assert params["random_state"] == 0
    with pytest.raises(ValueError, match="common_params"):
        config.model.estimator_params()
    one_type = load_config(_write(tmp_path, SELECT_K.replace("[full, diag]", "tied")), kind="select_k")
    assert one_type.model.covariance_types == ("tied",)


def test_score_defaults_and_version_references(tmp_path):
    config = load_config(_write(tmp_path, SCORE), kind="score")
    assert isinstance(config, ScoreConfig)
    assert config.registry.version == "latest" and config.anomaly is None
    assert config.predictions_target == str(tmp_path / "data-scores.zarr")
    numbered = load_config(_write(tmp_path, SCORE + "  version: '3'\n"), kind="score")
    assert numbered.registry.version == 3
    parquet = load_config(
        _write(tmp_path, SCORE.replace("data.zarr", "folder/rows.parquet")), kind="score"
    )
    assert parquet.predictions_target == str(tmp_path / "folder" / "rows-scores.zarr")


SELECT_K_MISTAKES = [
    (SELECT_K.replace("[2, 4, 8]", "[]"), ["model.n_components", "empty"]),
    (SELECT_K.replace("[2, 4, 8]", "[2, 4, 4]"), ["model.n_components", "listed twice"]),
    (SELECT_K.replace("[2, 4, 8]", "[2, four]"), ["model.n_components", "integer >= 1"]),
    (SELECT_K.replace("[2, 4, 8]", "[0, 2]"), ["model.n_components", "integer >= 1"]),
    (SELECT_K.replace("[full, diag]", "[full, fulll]"),
     ["model.covariance_type", "'fulll' is not a covariance type", "'spherical'"]),
    (SELECT_K.replace("[full, diag]", "[diag, diag]"), ["model.covariance_type", "listed twice"]),
    (SELECT_K.replace("[full, diag]", "[]"), ["model.covariance_type", "empty"]),
    (SELECT_K.replace("[full, diag]", "7"), ["model.covariance_type", "7", "list of candidates"]),
    (SELECT_K.replace("[2, 4, 8]", "4").replace("[full, diag]", "full"),
     ["model", "only one candidate", "batch_fit"]),
    (SELECT_K + "selection:\n  criterion: dic\n", ["selection.criterion", "'dic'", "'bic' or 'aic'"]),
    (SELECT_K + "selection:\n  critera: aic\n", ["selection.critera", "did you mean 'criterion'"]),
    (SELECT_K + "checkpoint:\n  folder: c\n", ["checkpoint", "unknown key", "selection"]),
    (SELECT_K.replace("  model: demo", "  model: my model"), ["registry.model", "'my model'"]),
]

SCORE_MISTAKES = [
    (SCORE + "  version: prod uction\n",
     ["registry.version", "'prod uction'", "not a valid alias", "letters, digits"]),
    (SCORE + "  version: 0\n", ["registry.version", "0", "start at 1"]),
    (SCORE + "  version: true\n", ["registry.version", "True", "version number"]),
    (SCORE + "  alias: production\n", ["registry.alias", "unknown key", "version"]),
    (SCORE + "anomaly:\n  quantile: 0.01\n  threshold: -5.0\n",
     ["anomaly", "exactly one of anomaly.quantile"]),
    (SCORE + "anomaly: {}\n", ["anomaly", "exactly one"]),
    (SCORE + "anomaly:\n  quantile: 1.5\n", ["anomaly.quantile", "1.5", "less than 1"]),
    (SCORE + "anomaly:\n  quantile: high\n", ["anomaly.quantile", "'high'", "number"]),
    (SCORE + "anomaly:\n  quantil: 0.5\n", ["anomaly.quantil", "did you mean 'quantile'"]),
    (SCORE + "outputs:\n  predictions: s3://b/s.zarr\n", ["outputs.predictions", "URL"]),
    (SCORE + "outputs:\n  reports: r\n", ["outputs.reports", "unknown key", "predictions"]),
    (SCORE + "model:\n  n_components: 3\n", ["model", "unknown key", "registry"]),
    (SCORE + "compute:\n  persist: true\n", ["compute", "reads it once", "remove compute.persist"]),
    (SCORE.replace("registry:\n  model: demo\n", ""), ["registry", "missing"]),
]


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [("select_k", t, e) for t, e in SELECT_K_MISTAKES] + [("score", t, e) for t, e in SCORE_MISTAKES],
    ids=[f"select_k-{i:02d}-{e[0]}" for i, (_, e) in enumerate(SELECT_K_MISTAKES)]
    + [f"score-{i:02d}-{e[0]}" for i, (_, e) in enumerate(SCORE_MISTAKES)],
)
def test_select_k_and_score_mistakes_name_key_path_and_value(tmp_path, kind, text, expected):
    message = _kind_error(tmp_path, text, kind)
    for fragment in expected:
        assert fragment in message, f"{fragment!r} not in:\n{message}"


@pytest.mark.parametrize(("text", "expected"), [("", False), ("persist: true\n", True),
                                                ("persist: auto\n", "auto")])
def test_compute_persist_reaches_the_fit_but_not_the_scheduler(tmp_path, text, expected):
    config = load_config(_write(tmp_path, _with("compute", "scheduler: threads\n" + text)))
    assert config.compute.persist == expected and type(config.compute.persist) is type(expected)
    assert "persist" not in config.compute.scheduler_params()
