"""Prefect's temporary API server as a process: spawned and stopped without importing Prefect.

The server (uvicorn serving ``prefect.server.api.server:create_app`` with Prefect
3.8's ephemeral-mode variables) takes about 3 s to answer, most of it importing
Prefect's server code. A command that will run a flow starts it first thing
(:func:`early_server`, from ``streamgmm.cli.main`` and, through
:func:`run_flow_module`, ``python -m flows.<name>``), before the command's own
process imports numpy, scikit-learn, Dask and Prefect and checks the config: the
two start-ups then share the machine's cores instead of following each other.
:func:`streamgmm.orchestration._api.flow_run_api` takes that server
(:func:`take_early`) when the flow is about to run, or starts one itself.

An early server is started only when nothing would be lost by stopping it unused
(a refused config, ``PREFECT_API_URL`` set in a profile): when ``PREFECT_API_URL``
is not in the environment and Prefect's database already exists (a first run
creates it and runs its migrations; that run starts its server after the config
check, as before). The server reads the user's Prefect settings as the command
does: the same environment, working directory and profile.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

__all__ = [
    "EPHEMERAL_SERVER_ENVIRONMENT", "HOST", "PORT_IN_USE_EXIT_CODE", "PRINT_ONLY_OPTIONS",
    "SERVER_DEFAULTS", "ServerProcess", "early_server", "run_flow_module", "take_early",
]

#: What Prefect's ``SubprocessASGIServer`` sets for its server (Prefect 3.8): no UI,
#: the services of an ephemeral server, the last app created in that process.
EPHEMERAL_SERVER_ENVIRONMENT = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
}
#: Defaults of the temporary server that the user's environment or profile overrides.
SERVER_DEFAULTS = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
#: uvicorn's exit code when the port is taken (a race after choosing a free one).
PORT_IN_USE_EXIT_CODE = 3
HOST = "127.0.0.1"
STOP_TIMEOUT_SECONDS = 5
#: Options with which a command prints and exits: no server for them.
PRINT_ONLY_OPTIONS = frozenset({"-h", "--help", "--version"})
#: Settings naming the database elsewhere than ``$PREFECT_HOME/prefect.db``.
DATABASE_URL_VARIABLES = ("PREFECT_API_DATABASE_CONNECTION_URL",
                          "PREFECT_SERVER_DATABASE_CONNECTION_URL")


def _free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now (the OS's choice)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _prefect_parent() -> str:
    """The folder holding the ``prefect`` package (uvicorn's ``--app-dir``), without importing it."""
    spec = importlib.util.find_spec("prefect")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("Prefect is not installed: pip install prefect")
    return str(Path(next(iter(spec.submodule_search_locations))).resolve().parent)


class ServerProcess:
    """One uvicorn process serving Prefect's API on 127.0.0.1.

    Parameters
    ----------
    settings : mapping of str to str
        Prefect settings as environment variables, over the process's environment
        and :data:`SERVER_DEFAULTS` (the ephemeral-mode variables go over all).
    """

    def __init__(self, settings: Mapping[str, str] | None = None) -> None:
        self.env = {**SERVER_DEFAULTS, **os.environ, **EPHEMERAL_SERVER_ENVIRONMENT,
                    **(settings or {})}
        self.started_at = time.monotonic()
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.spawn()

    @property
    def url(self) -> str:
        """The API's URL (``http://127.0.0.1:PORT/api``)."""
        return f"http://{HOST}:{self.port}/api"

    def spawn(self) -> None:
        """Start the process on a free port (again, after a port race)."""
        self.port = _free_port()
        self.process = subprocess.Popen(
            [
                sys.executable, "-m", "uvicorn",
                "--app-dir", _prefect_parent(),
                "--factory", "prefect.server.api.server:create_app",
                "--host", HOST, "--port", str(self.port),
                "--log-level", "error", "--lifespan", "on",
            ],
            env=self.env,
        )

    def stop(self, *, unused: bool = False) -> None:
        """Stop the process: SIGTERM, then SIGKILL after :data:`STOP_TIMEOUT_SECONDS`.

        ``unused``: nothing was sent to it, so it is killed at once (SIGKILL: no
        shutdown to wait for, nothing printed).
        """
        if self.process is None:
            return
        if unused:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None


_early: ServerProcess | None = None


def _may_start_early() -> bool:
    """No server named in the environment, and Prefect's database already there."""
    if os.environ.get("PREFECT_API_URL"):
        return False
    if any(os.environ.get(name) for name in DATABASE_URL_VARIABLES):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()
    return (home / "prefect.db").is_file()


@contextlib.contextmanager
def early_server(wanted: bool) -> Iterator[None]:
    """Start the temporary server now if ``wanted`` and allowed; stop it at exit if nobody took it."""
    global _early
    if wanted and _may_start_early():
        _early = ServerProcess()
    try:
        yield
    finally:
        server, _early = _early, None
        if server is not None:
            server.stop(unused=True)


def take_early() -> ServerProcess | None:
    """The server started by :func:`early_server`, now the caller's to stop; or None."""
    global _early
    server, _early = _early, None
    return server


def run_flow_module(module: str) -> int:
    """``python -m flows.<name> ...``: ``main()`` of the flow ``module``, the server started first.

    The server starts (see :func:`early_server`) before ``module`` and Prefect are
    imported, unless the command line asks for help.
    """
    with early_server(not PRINT_ONLY_OPTIONS.intersection(sys.argv[1:])):
        return int(importlib.import_module(module).main())
