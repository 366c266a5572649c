"""The layer rules of design.md, as import-linter contracts in pyproject.toml, hold.

``lint-imports`` runs in a real subprocess from the repository root, the way CI
would run it on its own; a second test shows on a throw-away package that the
check sees a function-level import (an import hidden in a function still counts).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LINT_IMPORTS = str(Path(sys.executable).parent / "lint-imports")


def _lint(cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    # The folder analysed comes first on the path (lint-imports also adds the working
    # directory), so the checkout's own code is checked whatever is installed.
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(cwd), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [LINT_IMPORTS, "--config", str(config), "--no-cache"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_repository_keeps_every_import_contract():
    result = _lint(REPO, REPO / "pyproject.toml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    for contract in ("Layers: imports point down only", "Only the orchestration layer",
                     "core is pure numpy/scipy"):
        assert contract in result.stdout
    assert "0 broken" in result.stdout


def test_a_function_level_upward_import_breaks_the_layers(tmp_path):
    package = tmp_path / "toy"
    (package / "low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "high.py").write_text("from toy.low import helper\n")
    (package / "low" / "__init__.py").write_text(textwrap.dedent("""\
        def helper():
            from toy import high  # upward, inside a function
            return high
        """))
    config = tmp_path / "pyproject.toml"
    config.write_text(textwrap.dedent("""\
        [tool.importlinter]
        root_packages = ["toy"]

        [[tool.importlinter.contracts]]
        name = "toy layers"
        type = "layers"
        containers = ["toy"]
        layers = ["high", "low"]
        """))
    result = _lint(tmp_path, config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "toy.low is not allowed to import toy.high" in result.stdout
