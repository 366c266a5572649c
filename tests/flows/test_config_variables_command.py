"""``${VAR}`` mistakes and parameter domains through the real ``streamgmm fit`` command.

An empty ``${VAR}`` used to be reported as "not set": the user then looks for a missing
variable that is there. Run as a user would (the installed entry point, a subprocess, a
YAML file): the config is refused with exit code 2 before Prefect starts, each problem on its
own line naming the key.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamgmm.config.paths import expand_variables

STREAMGMM = str(Path(sys.executable).parent / "streamgmm")

CONFIG = """\
data:
  uri: ${SGMM_TEST_EMPTY}/x.zarr
model:
  n_components: 2
  max_iter: 0
registry:
  root: ${SGMM_TEST_UNSET}/registry
  model: demo
"""


def test_empty_and_unset_variables_and_max_iter_zero_exit_2_each_named(tmp_path):
    config = tmp_path / "job.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "SGMM_TEST_UNSET"}
    env.update(SGMM_TEST_EMPTY="", PREFECT_HOME=str(tmp_path / "prefect-home"), MPLBACKEND="Agg")
    result = subprocess.run(
        [STREAMGMM, "fit", str(config)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=300,
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    uri = next(line for line in lines if "data.uri" in line)
    assert "environment variable SGMM_TEST_EMPTY is set but empty" in uri, uri
    assert "not set" not in uri, uri
    assert "${SGMM_TEST_EMPTY:-default}" in uri, uri  # a way out
    root = next(line for line in lines if "registry.root" in line)
    assert "environment variable SGMM_TEST_UNSET is not set" in root, root
    max_iter = next(line for line in lines if "model.max_iter" in line)
    assert "0 is not allowed; expected an integer >= 1" in max_iter, max_iter
    assert "Starting temporary server" not in result.stderr


def test_expand_variables_tells_empty_from_unset():
    from_empty = _expansion_error("${A}/x", {"A": ""})
    assert "A is set but empty" in from_empty and "not set" not in from_empty
    assert "A is not set" in _expansion_error("${A}/x", {})
    assert expand_variables("${A:-d}/x", {"A": ""}) == "d/x"  # a default covers both


def _expansion_error(text: str, environ: dict[str, str]) -> str:
    with pytest.raises(ValueError) as caught:
        expand_variables(text, environ)
    return str(caught.value)
