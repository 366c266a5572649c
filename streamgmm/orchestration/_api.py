"""The Prefect API a command's flow run talks to: ``PREFECT_API_URL``, or a temporary local server.

Without ``PREFECT_API_URL``, Prefect itself would start its temporary ("ephemeral")
API server the moment the flow is called (``SubprocessASGIServer``): it imports
Prefect's whole server package into the command's process first (about 1.2 s of
CPU the command never uses) and then waits, doing nothing, until the server
answers (about 2.5 s warm, on 2 cores). :class:`TemporaryAPI` starts the same
server the same way — uvicorn serving ``prefect.server.api.server:create_app`` with
Prefect 3.8's ephemeral-mode variables (no UI, the ephemeral set of services), on
127.0.0.1, with the user's Prefect settings — but returns at once, so the command
does its own start-up (a local Dask cluster, when the job uses one) while the
server starts, and waits for ``/api/health`` only when the flow is about to run.
The flow then runs with ``PREFECT_API_URL`` pointing at it, and the server is
stopped when the command ends, also on failure. When the command started the
server itself first thing (:func:`streamgmm.orchestration._server.early_server`),
that one is used instead of starting another.

The server's telemetry heartbeat is off unless the user's settings turn it on
(``PREFECT_SERVER_ANALYTICS_ENABLED``): on a machine without internet access it
logged a name-resolution traceback on every run, and on a first run its write raced
the database migrations ("database is locked").
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import httpx
from prefect.events.worker import EventsWorker
from prefect.logging import get_logger
from prefect.logging.handlers import APILogWorker
from prefect.settings import (
    PREFECT_API_URL,
    PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
    PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
    PREFECT_UI_URL,
    get_current_settings,
    temporary_settings,
)

from ._server import HOST, PORT_IN_USE_EXIT_CODE, SERVER_DEFAULTS, ServerProcess, take_early

__all__ = ["TemporaryAPI", "flow_run_api"]

logger = get_logger("temporary_api")
POLL_SECONDS = 0.05


class TemporaryAPI:
    """Prefect's temporary API server on 127.0.0.1, started without waiting for it.

    Use :meth:`start` (returns at once) or :meth:`adopt` (a server already
    started), :meth:`wait_ready`, :meth:`stop`; or :func:`flow_run_api`, which
    does all three around a block.
    """

    def __init__(self) -> None:
        self.server: ServerProcess | None = None

    @property
    def port(self) -> int | None:
        """The server's port (None before :meth:`start`)."""
        return None if self.server is None else self.server.port

    @property
    def url(self) -> str:
        """The API's URL (``http://127.0.0.1:PORT/api``)."""
        return f"http://{HOST}:{self.port}/api"

    def start(self) -> TemporaryAPI:
        """Start the server process with the user's Prefect settings; do not wait for it."""
        self.server = ServerProcess(get_current_settings().to_environment_variables(exclude_unset=True))
        logger.info("Starting Prefect's temporary API server on %s", self.url)
        return self

    def adopt(self, server: ServerProcess) -> TemporaryAPI:
        """Use ``server``, started earlier by the command (it is stopped by :meth:`stop`)."""
        self.server = server
        logger.info(
            "Using Prefect's temporary API server on %s (started with the command %.1f s ago)",
            self.url, time.monotonic() - server.started_at,
        )
        return self

    def wait_ready(self, timeout: float) -> None:
        """Wait until ``/api/health`` answers 200.

        Raises
        ------
        ConnectionError
            The server exited or did not answer within ``timeout`` seconds (the
            message says which, and the way out).
        """
        assert self.server is not None and self.server.process is not None, "start() first"
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=5) as client:
            while time.monotonic() < deadline:
                code = self.server.process.poll()
                if code == PORT_IN_USE_EXIT_CODE:
                    self.server.spawn()  # another process took the port in the meantime
                    continue
                if code is not None:
                    raise ConnectionError(
                        f"Prefect's temporary API server on {HOST}:{self.port} exited with code "
                        f"{code} before answering (its error is above). Check PREFECT_HOME "
                        f"({get_current_settings().home}), or set PREFECT_API_URL to a running "
                        "Prefect server."
                    )
                try:
                    if client.get(f"{self.url}/health").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(POLL_SECONDS)
        raise ConnectionError(
            f"Prefect's temporary API server on {HOST}:{self.port} did not answer within "
            f"{timeout:g} s. Allow it longer (PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS), "
            "or set PREFECT_API_URL to a running Prefect server."
        )

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after a few seconds)."""
        if self.server is None or self.server.process is None:
            return
        logger.info("Stopping Prefect's temporary API server on %s", self.url)
        self.server.stop()
        self.server = None


def _matches_settings(server: ServerProcess) -> bool:
    """Whether ``server`` got the settings this process resolves for it.

    It reads the environment and the profile as this process does; only the
    defaults it was given (:data:`SERVER_DEFAULTS`, set as environment variables)
    can differ, when the profile sets them.
    """
    wanted = get_current_settings().to_environment_variables(exclude_unset=True)
    # Booleans are written "False" here and "false" in SERVER_DEFAULTS.
    return all(str(server.env.get(key)).lower() == str(wanted.get(key, value)).lower()
               for key, value in SERVER_DEFAULTS.items())


@contextlib.contextmanager
def flow_run_api() -> Iterator[contextlib.AbstractContextManager[None]]:
    """Start the API a command's flow runs on; yield how to wait for it and use it.

    With ``PREFECT_API_URL`` set, nothing starts and the yielded context does
    nothing (a server the command started early is stopped unused). Otherwise the
    command's early server (:func:`~streamgmm.orchestration._server.take_early`)
    is used if it has the user's settings, else a :class:`TemporaryAPI` starts
    now; entering the yielded context waits until it answers
    (``PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS``) and points Prefect at it
    inside; the server stops when this context exits.

    Examples
    --------
    >>> with flow_run_api() as api:      # doctest: +SKIP
    ...     start_other_things()         # while the server starts
    ...     with api:
    ...         my_flow()
    """
    early = take_early()
    if PREFECT_API_URL.value():
        if early is not None:
            early.stop(unused=True)
        yield contextlib.nullcontext()
        return
    if early is not None and not _matches_settings(early):
        early.stop(unused=True)
        early = None
    server = TemporaryAPI().start() if early is None else TemporaryAPI().adopt(early)
    try:
        yield _ready(server)
    finally:
        server.stop()


@contextlib.contextmanager
def _ready(server: TemporaryAPI) -> Iterator[None]:
    """Wait for the server; inside, Prefect talks to it; on exit, what is queued for it is sent."""
    server.wait_ready(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    # The temporary server serves no UI: no "View at" link to it. Nor does it outlive
    # the run: no flow-run heartbeats for it to watch (Prefect's heartbeat thread
    # sleeps in 1 s steps and is joined at the flow's end, 0.5 s on average).
    with temporary_settings(updates={PREFECT_API_URL: server.url, PREFECT_UI_URL: "",
                                     PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        try:
            yield
        finally:
            # Run logs and events are sent in the background: send the last ones while
            # the server still runs (Prefect would otherwise retry them against a
            # stopped server when the process exits).
            APILogWorker.drain_all()
            EventsWorker.drain_all()
