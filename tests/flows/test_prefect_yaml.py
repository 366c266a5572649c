"""``prefect.yaml``: every entrypoint is a Prefect flow, its parameters validate, schedules parse.

Also the reader's error messages and the deployment objects ``streamgmm serve`` builds.
No Prefect API is needed: loading flows and building deployments make no API calls.
"""

from __future__ import annotations

import datetime
import textwrap
from pathlib import Path

import pytest

from streamgmm.commands.deployments import (
    DeploymentFileError,
    read_deployments,
    select_deployments,
)
from streamgmm.commands.serve import build_deployments
from streamgmm.config import CONFIG_KINDS, load_config

REPO = Path(__file__).resolve().parents[2]
SPECS = read_deployments(REPO / "prefect.yaml")
#: Flows whose deployment prefect.yaml may declare before their file is in the checkout
#: (the online_update flow was written alongside, by another engineer).
PENDING_FLOWS = {"online_update"}


def test_every_flow_has_a_scheduled_deployment():
    assert {spec.function for spec in SPECS} == {"batch_fit", "select_k", "score", "online_update"}
    assert all(spec.schedules for spec in SPECS)


@pytest.mark.parametrize("spec", SPECS, ids=[spec.full_name for spec in SPECS])
def test_entrypoint_resolves_to_a_flow_whose_parameters_validate(spec, monkeypatch):
    from prefect import Flow
    from prefect.flows import load_flow_from_entrypoint

    if not (REPO / spec.file).is_file():
        if spec.function in PENDING_FLOWS:
            pytest.skip(f"{spec.file} does not exist in this checkout: the online_update flow is "
                        "written by another engineer; its deployment entry is declared ahead of it")
        pytest.fail(f"{spec.full_name}: {spec.file} does not exist")
    monkeypatch.chdir(REPO)  # entrypoints are relative to the folder of prefect.yaml

    flow = load_flow_from_entrypoint(spec.entrypoint, use_placeholder_flow=False)

    assert isinstance(flow, Flow) and flow.name == spec.function
    validated = flow.validate_parameters(dict(spec.parameters))  # defaults filled in
    assert {name: validated[name] for name in spec.parameters} == spec.parameters
    if spec.function in CONFIG_KINDS:  # the config it runs with exists and is valid
        load_config(REPO / spec.parameters["config_path"], kind=spec.function)
    deployment = spec.to_deployment(flow)
    assert deployment.name == spec.name and deployment.entrypoint == spec.entrypoint
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


def test_serve_builds_the_repository_deployments(monkeypatch):
    monkeypatch.chdir(REPO)
    deployments, skipped = build_deployments(SPECS, REPO)
    present = [s for s in SPECS if (REPO / s.file).is_file()]
    assert [d.name for d in deployments] == [s.name for s in present]
    assert {s.function for s in skipped} <= PENDING_FLOWS


def test_serve_skips_a_flow_file_that_does_not_exist_yet_unless_required(tmp_path, monkeypatch):
    (tmp_path / "ready.py").write_text(
        "from prefect import flow\n\n\n@flow\ndef ready(config_path: str) -> None:\n    pass\n",
        encoding="utf-8",
    )
    (tmp_path / "prefect.yaml").write_text(textwrap.dedent("""\
        deployments:
        - name: now
          entrypoint: ready.py:ready
          parameters: {config_path: a.yaml}
          schedules: [{interval: 60}]
          concurrency_limit: 1
        - name: later
          entrypoint: later.py:later
          schedules: [{cron: '*/5 * * * *'}]
        """), encoding="utf-8")
    specs = read_deployments(tmp_path / "prefect.yaml")
    monkeypatch.chdir(tmp_path)

    deployments, skipped = build_deployments(specs, tmp_path)

    assert [d.name for d in deployments] == ["now"] and [s.name for s in skipped] == ["later"]
    assert deployments[0].entrypoint == "ready.py:ready"
    assert deployments[0].concurrency_limit == 1
    with pytest.raises(DeploymentFileError, match="later/later: its flow file .*later.py does not"):
        build_deployments(specs, tmp_path, required=["later"])


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
