"""Fixtures for the example tests: a Prefect test server for the examples that run flows.

``prefect_harness`` starts ``prefect_test_harness`` (a real API server on a temporary
SQLite database, ``PREFECT_HOME`` in a temporary folder) once per session, only for
the tests that ask for it. The examples run at their reduced size, into ``tmp_path``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent

_QUIET = (
    "ignore::sklearn.exceptions.ConvergenceWarning",
    "ignore:Port .* is already in use:UserWarning",
    "ignore:Consolidated metadata is currently not part:UserWarning",
)


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Quiet the warnings these tests are not about, in this folder only."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            for spec in _QUIET:
                item.add_marker(pytest.mark.filterwarnings(spec))


@pytest.fixture(scope="session")
def prefect_harness(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One real Prefect API (temporary SQLite database) for every example that runs a flow."""
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    home = tmp_path_factory.mktemp("prefect-home")
    with temporary_settings(updates={PREFECT_HOME: str(home)}):
        with prefect_test_harness(server_startup_timeout=120):
            yield

