"""Fixtures shared by every test folder: ONE Prefect test server per session.

- ``prefect_home``: a fresh, empty ``PREFECT_HOME`` for the session.
- ``prefect_harness``: ``prefect_test_harness`` (a real ephemeral API server on a
  temporary SQLite database) started once per session, only when a test asks for
  it, and shared by the flow tests and the examples that run flows. Starting it
  runs the database migrations, which takes a while on a busy machine, hence the
  generous timeout.

The tests that run flows (``flows/``, ``examples/``) also quiet the warnings they
are not about. The examples run at their reduced size, into ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
_FLOW_TEST_FOLDERS = (HERE / "flows", HERE / "examples")

_QUIET = (
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Port .* is already in use:UserWarning",
    "ignore:Consolidated metadata is currently not part:UserWarning",
)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Quiet the warnings the flow and example tests are not about (those folders only)."""
    for item in items:
        parents = Path(str(item.path)).resolve().parents
        if any(folder in parents for folder in _FLOW_TEST_FOLDERS):
            for spec in _QUIET:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def prefect_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh, empty PREFECT_HOME for the session."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="session")
def prefect_harness(prefect_home: Path) -> Iterator[None]:
    """One real Prefect API (temporary SQLite database) for every test that runs a flow."""
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings(updates={PREFECT_HOME: str(prefect_home)}):
        with prefect_test_harness(server_startup_timeout=120):
            yield
