"""``prefect.yaml``: every entrypoint is a Prefect flow, its parameters validate, schedules parse.

Also the reader's error messages and the deployment objects ``streamgmm serve`` builds
(with the installed package's flows, registered by module path). No Prefect API is
needed: loading flows and building deployments make no API calls.
"""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest

from streamgmm.cli.serve import build_deployments, describe
from streamgmm.config import CONFIG_KINDS, load_config
from streamgmm.orchestration.deployments import (
    DeploymentFileError,
    packaged_flow,
    read_deployments,
    select_deployments,
)

REPO = Path(__file__).resolve().parents[2]
SPECS = read_deployments(REPO / "prefect.yaml")


def test_every_flow_has_a_scheduled_deployment():
    assert {spec.function for spec in SPECS} == {"batch_fit", "select_k", "score", "online_update"}
    assert all(spec.schedules for spec in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.full_name for spec in SPECS])
def test_entrypoint_resolves_to_a_flow_whose_parameters_validate(spec, monkeypatch):
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    monkeypatch.chdir(REPO)  # entrypoints are relative to the folder of prefect.yaml

    # What `prefect deploy` and workers load: the thin file re-exports the packaged flow.
    flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)

    assert isinstance(flow, Flow) and flow.name == spec.function
    assert flow is packaged_flow(spec)
    validated = flow.validate_parameters(dict(spec.parameters))  # defaults filled in
    assert {name: validated[name] for name in spec.parameters} == spec.parameters
    if spec.function in CONFIG_KINDS:  # the config it runs with exists and is valid
        load_config(REPO / spec.parameters["config_path"], kind=spec.function)
    deployment = spec.to_deployment(flow)
    module_path = f"streamgmm.orchestration.{spec.function}.{spec.function}"
    assert deployment.name == spec.name and deployment.entrypoint == module_path
    assert deployment.parameters == spec.parameters
    assert len(deployment.schedules) == len(spec.schedules)


def test_schedules_parse_into_prefect_schedules():
    from prefect.client.schemas.schedules import CronSchedule

    by_flow = {spec.function: spec for spec in SPECS}
    expected_cron = {"batch_fit": "0 2 * * *", "select_k": "0 3 * * 0", "score": "30 6 * * *"}
    for flow, cron in expected_cron.items():
        (schedule,) = by_flow[flow].schedules
        assert (schedule.cron, schedule.timezone) == (cron, "UTC")
        CronSchedule(cron=schedule.cron, timezone=schedule.timezone)  # the server's own checks
    (online,) = by_flow["online_update"].schedules
    assert online.interval == datetime.timedelta(minutes=5)


def test_serve_builds_the_repository_deployments_from_the_package(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # from anywhere: nothing is loaded from the checkout's files
    deployments = build_deployments(SPECS)
    assert [d.name for d in deployments] == [s.name for s in SPECS]
    assert [d.entrypoint for d in deployments] == [
        f"streamgmm.orchestration.{s.function}.{s.function}" for s in SPECS
    ]
    line = describe(SPECS[0], deployments[0])
    assert line.startswith("batch_fit/nightly: streamgmm.orchestration.batch_fit.batch_fit (")
    assert "config_path=configs/batch_fit.yaml; cron '0 2 * * *' UTC" in line


def test_serve_refuses_an_entrypoint_that_is_not_a_streamgmm_flow_without_importing_it(
    tmp_path, monkeypatch
):
    # A file that would fail loudly if serve imported it.
    (tmp_path / "ready.py").write_text("raise SystemExit('ready.py was imported')\n")
    (tmp_path / "flows").mkdir()
    (tmp_path / "flows" / "batch_fit.py").write_text("raise SystemExit('decoy imported')\n")
    (tmp_path / "prefect.yaml").write_text(textwrap.dedent("""\
        deployments:
        - name: now
          entrypoint: flows/batch_fit.py:batch_fit
          parameters: {config_path: a.yaml}
          schedules: [{interval: 60}]
          concurrency_limit: 1
        - name: by-module
          entrypoint: streamgmm.orchestration.score:score
        - name: mine
          entrypoint: ready.py:ready
        - name: elsewhere
          entrypoint: other/batch_fit.py:batch_fit
        """), encoding="utf-8")
    specs = read_deployments(tmp_path / "prefect.yaml")
    monkeypatch.chdir(tmp_path)

    deployments = build_deployments(specs[:2])

    assert [d.entrypoint for d in deployments] == [
        "streamgmm.orchestration.batch_fit.batch_fit", "streamgmm.orchestration.score.score",
    ]
    assert deployments[0].concurrency_limit == 1
    with pytest.raises(DeploymentFileError, match="ready/mine: entrypoint 'ready.py:ready' is not"):
        build_deployments(specs)
    with pytest.raises(DeploymentFileError, match="batch_fit/elsewhere: .* not a streamgmm flow"):
        build_deployments(specs[3:])


def test_only_selects_by_deployment_flow_or_full_name():
    assert [s.function for s in select_deployments(SPECS, ["batch_fit", "daily"])] == [
        "batch_fit", "score",
    ]
    assert [s.function for s in select_deployments(SPECS, ["select_k/weekly"])] == ["select_k"]
    assert select_deployments(SPECS, None) == SPECS
    with pytest.raises(DeploymentFileError, match="no deployment named 'nightl'.*batch_fit/nightly"):
        select_deployments(SPECS, ["nightl"])


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ("entrypoint: flows/x.py", r"deployments\[0\] \(d\).entrypoint: .* path/to/file.py:flow"),
        ("entrypoint: f.py:f\n  schedules: [{cron: '0 2 * *'}]", r"schedules\[0\]: .*cron"),
        ("entrypoint: f.py:f\n  schedules: [{cron: '0 2 * * *', timezone: Mars/Base}]",
         r"schedules\[0\].timezone: 'Mars/Base' is not an IANA time zone"),
        ("entrypoint: f.py:f\n  schedules: [{interval: -5}]", r"interval: -5 is not a positive"),
        ("entrypoint: f.py:f\n  schedules: [{cron: '0 2 * * *', interval: 60}]", "exactly one of"),
        ("entrypoint: f.py:f\n  schedules: [{cron: '0 2 * * *', tz: UTC}]", "unknown key.*tz"),
        ("entrypoint: f.py:f\n  schedule: {cron: '0 2 * * *'}", "use 'schedules:'"),
        ("entrypoint: f.py:f\n  paramters: {}", r"\(d\): unknown key\(s\) paramters"),
        ("entrypoint: f.py:f\n  concurrency_limit: 0", "concurrency_limit: 0 is not an integer"),
    ],
)
def test_deployment_mistakes_are_named(tmp_path, entry, match):
    path = tmp_path / "prefect.yaml"
    path.write_text(f"deployments:\n- name: d\n  {entry}\n", encoding="utf-8")
    with pytest.raises(DeploymentFileError, match=match):
        read_deployments(path)


def test_unreadable_or_empty_deployment_files(tmp_path):
    with pytest.raises(DeploymentFileError, match="no such file.*--prefect-yaml"):
        read_deployments(tmp_path / "missing.yaml")
    path = tmp_path / "prefect.yaml"
    path.write_text("name: x\n", encoding="utf-8")
    with pytest.raises(DeploymentFileError, match="no 'deployments:' list"):
        read_deployments(path)
    path.write_text(textwrap.dedent("""\
        deployments:
        - {name: a, entrypoint: f.py:f}
        - {name: a, entrypoint: f.py:f}
        """), encoding="utf-8")
    with pytest.raises(DeploymentFileError, match="f/a declared twice"):
        read_deployments(path)
