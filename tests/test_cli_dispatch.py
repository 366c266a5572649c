"""The ``streamgmm`` dispatcher: every command is listed, and a light command stays light.

Runs in real subprocesses, from an empty folder, so the module table is checked
as an installed command would use it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamgmm.cli import COMMANDS

#: Prefect, Dask and the rest, the flow modules and scikit-learn: what a light command never loads.
HEAVY = ("prefect", "dask", "distributed", "zarr", "xarray", "sklearn",
         "streamgmm.orchestration._command", "streamgmm.orchestration.batch_fit")


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "COLUMNS": "200"},
    )


def test_models_list_imports_neither_prefect_nor_dask(tmp_path):
    (tmp_path / "registry").mkdir()  # an empty registry: "no models" (a missing root is an error)
    code = (
        "import sys\n"
        "from streamgmm.cli import main\n"
        f"rc = main(['models', 'list', '--root', {str(tmp_path / 'registry')!r}])\n"
        f"print('heavy:', [m for m in {HEAVY!r} if m in sys.modules])\n"
        "sys.exit(rc)\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no models" in result.stdout and "heavy: []" in result.stdout


def test_the_command_line_starts_without_numpy_or_prefect(tmp_path):
    """``import streamgmm.cli`` (every command) loads no numerics: a flow command starts
    Prefect's API server before it imports them."""
    code = (
        "import sys\n"
        "import streamgmm.cli\n"
        f"print('heavy:', [m for m in {HEAVY + ('numpy', 'scipy')!r} if m in sys.modules])\n"
    )
    result = _python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "heavy: []" in result.stdout


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_module_has_the_dispatch_interface(command):
    """What the dispatcher uses: DESCRIPTION, configure(parser) and run(args)."""
    import importlib

    module = importlib.import_module(f"streamgmm.cli.{COMMANDS[command].module}")
    assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION
    assert callable(module.configure) and callable(module.run)


def test_an_unknown_command_is_named_with_the_choices(tmp_path):
    result = _python("from streamgmm.cli import main; main(['fitt', 'x.yaml'])", tmp_path)
    assert result.returncode == 2
    assert "invalid choice: 'fitt'" in result.stderr and "select-k" in result.stderr


def test_examples_lists_every_runnable_example(capsys):
    """The table of ``streamgmm examples`` names each module of streamgmm.examples with a main."""
    import pkgutil

    import streamgmm.examples
    from streamgmm.cli import main
    from streamgmm.cli.examples import EXAMPLES

    runnable = {
        info.name for info in pkgutil.iter_modules(streamgmm.examples.__path__)
        if "\ndef main(" in (Path(streamgmm.examples.__path__[0]) / f"{info.name}.py").read_text()
    }
    assert set(EXAMPLES) == runnable
    assert main(["examples"]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == list(EXAMPLES)
