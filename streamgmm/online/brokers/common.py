"""What every broker source shares: messages to batches, dead letters, reconnects, secrets.

A broker source (Kafka, Redis Streams, NATS JetStream, MQTT) subclasses
:class:`BrokerSource` and supplies only the broker-specific part:

- ``_fetch(after) -> list[Message]``: some messages after the position ``after``
  (None: the stream's start), in the stream's deterministic order, each with the
  position *after* it and its own address (e.g. ``{"partition": 0, "offset": 17}``);
  an empty list when none is available now. It must not depend on earlier calls
  for *which* messages follow ``after`` (only for how many it returns at once).
- ``describe()``, and optionally ``identity`` / ``verify_identity`` (see
  :mod:`streamgmm.online.sources`), ``acknowledge(position)`` and ``close()``.
- ``_reconnect()`` and ``transient_errors`` (the client's connection errors).

:class:`BrokerSource` turns messages into batches. A batch is made of *whole
messages*: it closes at the first message that brings it to ``max_rows`` rows or
more (so with messages of 100 rows and batches of 1,000 a batch is exactly 1,000
rows). The batch boundaries depend only on the position and the messages, never
on when the runner polled, which keeps a restarted stream bitwise equal to an
uninterrupted one. Messages fetched beyond a batch are kept for the next one.

**Dead letters.** A message that cannot be decoded (:mod:`..messages`: bad
header, truncated, wrong number of features, NaN/inf, not the format) is sent to
a :class:`DeadLetterSink` with the reason and its address, counted in the batch
(``Batch.dead_letters``, summed into the state's ``dead_letters`` counter) and
skipped; the stream goes on. It is sent while the batch is read, i.e. BEFORE the
runner commits the position that skips it, so nothing is lost; a run killed in
between sends it again on replay. :class:`FolderDeadLetters` is idempotent (one
file per address); broker sinks (a Kafka topic, a Redis stream, a NATS subject,
an MQTT topic) carry the address in the headers/fields built by
:func:`dead_letter_fields`, so their consumers can de-duplicate by it.

**Exactly once.** The runner commits the model together with the position
(:mod:`streamgmm.online.state`) and only then calls ``acknowledge(position)``:
an acknowledgement to the broker (Kafka offsets for monitoring, Redis XACK, NATS
ack, MQTT PUBACK) is never the truth, the runner's state file is.

**Connection loss.** A fetch that fails with one of ``transient_errors`` is
retried after ``_reconnect()``, waiting by :class:`Backoff` (exponential,
capped, jittered from a seeded generator: deterministic), logging each attempt,
for up to ``reconnect_seconds``. The stream resumes from the position it was
reading (the reads are replayable from a position, so nothing committed moves).
A broker that is down at start is a :class:`BrokerUnavailableError` naming the
URL and the config key, unless ``source.wait_for_broker`` asks to wait
(:func:`connect_at_start`).

**Secrets.** Credentials are given in the config as the NAMES of environment
variables (``credentials: {username_env: KAFKA_USER, password_env: KAFKA_PASSWORD}``),
never the secret itself; :func:`secret_from_env` reads them and names the key of
a missing one.

Config decision (recorded here, for every broker): ``source.dead_letter`` is a
mapping with exactly one of ``folder`` (a path), ``topic`` (Kafka, MQTT),
``stream`` (Redis) or ``subject`` (NATS); without it, dead letters go to the
folder ``dead-letters`` inside the stream's state folder (``online.state``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import re
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, ClassVar, Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np

from ...core.errors import StreamGMMError
from ...io.atomic import atomic_write_bytes
from ..messages import MessageDecodeError, decode_rows
from ..sources import Batch, SourceError

__all__ = [
    "Backoff",
    "BrokerConfigError",
    "BrokerSource",
    "BrokerUnavailableError",
    "DeadLetterSink",
    "FolderDeadLetters",
    "Message",
    "MissingClientError",
    "address_name",
    "connect_at_start",
    "credentials",
    "dead_letter_sink",
    "endpoints",
    "shared_options",
    "unreachable",
    "dead_letter_fields",
    "require_client",
    "secret_from_env",
]

logger = logging.getLogger("streamgmm.online")

T = TypeVar("T")


# ============================================================================= errors
class BrokerUnavailableError(SourceError, ConnectionError):
    """The broker cannot be reached (at start, or for longer than the reconnect budget)."""


class BrokerConfigError(StreamGMMError, ValueError):
    """A broker setting cannot be used as given (e.g. a credential's variable is not set)."""


class MissingClientError(StreamGMMError, ImportError):
    """The client library of a broker is not installed (it is an optional extra)."""


def require_client(module: ModuleType | None, kind: str, extra: str, package: str) -> ModuleType:
    """The imported client ``module``, or a :class:`MissingClientError` naming the extra.

    Broker modules import their client at module level inside ``try``/``except
    ImportError`` (keeping None), so that the source table can list every broker
    while each client stays optional.
    """
    if module is None:
        raise MissingClientError(
            f"source.kind {kind!r} needs the {package} client, which is not installed. "
            f"Install it with: pip install 'streamgmm[{extra}]'"
        )
    return module


def secret_from_env(variable: str | None, key: str) -> str | None:
    """The value of the environment variable ``variable`` (None if no variable is named).

    Parameters
    ----------
    variable : str or None
        The variable's NAME, as given in the config.
    key : str
        The config key that names it, for the error (``source.credentials.password_env``).

    Raises
    ------
    BrokerConfigError
        The variable is not set (naming the key and the variable).
    """
    if variable is None:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise BrokerConfigError(
            f"{key}: the environment variable {variable!r} is not set. Set it to the secret "
            f"(export {variable}=...) before starting the stream; the config holds only its name."
        )
    return value


# ============================================================================ backoff
@dataclass
class Backoff:
    """Exponential waits between reconnection attempts: capped, jittered, reproducible.

    The n-th wait is ``min(cap, initial * factor**n)`` times a jitter in
    ``[1 - jitter, 1]`` drawn from ``random.Random(seed)``.
    """

    initial: float = 0.1
    cap: float = 5.0
    factor: float = 2.0
    jitter: float = 0.5
    seed: int = 0

    def delays(self) -> Iterator[float]:
        """The successive waits, in seconds (endless)."""
        rng = random.Random(self.seed)
        attempt = 0
        while True:
            base = min(self.cap, self.initial * self.factor**attempt)
            yield base * (1.0 - self.jitter * rng.random())
            attempt += 1


def retry(
    operation: Callable[[], T],
    *,
    errors: tuple[type[BaseException], ...],
    budget: float | None,
    what: str,
    backoff: Backoff,
    before_retry: Callable[[], None] | None = None,
) -> T:
    """``operation()``, retried on ``errors`` with ``backoff`` for up to ``budget`` seconds.

    Each failed attempt is logged with its cause and the wait. ``budget`` None
    retries forever; 0 does not retry. The last error is re-raised when the
    budget is spent.
    """
    started = time.monotonic()
    delays = backoff.delays()
    attempt = 0
    while True:
        attempt += 1
        try:
            return operation()
        except errors as exc:
            delay = next(delays)
            spent = time.monotonic() - started
            if budget is not None and spent + delay > budget:
                raise
            logger.warning("%s failed (attempt %d: %s); retrying in %.2f s", what, attempt, exc, delay)
            time.sleep(delay)
            if before_retry is not None:
                try:
                    before_retry()
                except errors as again:
                    logger.warning("%s: reconnecting failed (%s)", what, again)


def connect_at_start(
    connect: Callable[[], T],
    *,
    url: str,
    key: str,
    wait_for_broker: float | None,
    errors: tuple[type[BaseException], ...],
    backoff: Backoff | None = None,
) -> T:
    """``connect()``, or a clear :class:`BrokerUnavailableError` naming ``url`` and ``key``.

    Parameters
    ----------
    connect : callable
        Opens the connection and proves the broker answers (raises one of ``errors`` if not).
    url : str
        The broker's address as configured.
    key : str
        The config key that holds it (``source.bootstrap_servers``, ``source.url``).
    wait_for_broker : float or None
        Seconds to keep trying (``source.wait_for_broker``); None fails at once.
    """
    try:
        return retry(
            connect, errors=errors, budget=wait_for_broker or 0.0,
            what=f"connecting to {url}", backoff=backoff or Backoff(),
        )
    except errors as exc:
        waited = f" after waiting {wait_for_broker:g} s" if wait_for_broker else ""
        raise BrokerUnavailableError(
            f"{key}: cannot reach the broker at {url}{waited} ({type(exc).__name__}: {exc}). "
            "Start the broker or fix the address; to wait for a broker that is starting, set "
            "source.wait_for_broker (seconds)."
        ) from exc


# ======================================================================= dead letters
@runtime_checkable
class DeadLetterSink(Protocol):
    """Where messages that are not rows of the stream go, with why and where they were."""

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        """Keep ``payload`` with its ``reason`` and its address in the stream (``position``)."""
        ...


_UNSAFE = re.compile(r"[^A-Za-z0-9._=-]+")


def address_name(position: dict[str, Any]) -> str:
    """A file-name-safe, unique name of a message's address (``partition=0_offset=17``)."""
    text = "_".join(f"{key}={position[key]}" for key in sorted(position))
    safe = _UNSAFE.sub("-", text)[:150]
    if safe != text:  # replaced characters could collide: make the name unique again
        safe += "_" + hashlib.sha256(json.dumps(position, sort_keys=True).encode()).hexdigest()[:12]
    return safe


def dead_letter_fields(reason: str, position: dict[str, Any], source: dict[str, Any]) -> dict[str, str]:
    """Header fields of a dead letter sent to a broker: reason, address (JSON), source (JSON).

    Consumers of a dead-letter topic/stream de-duplicate by ``streamgmm-position``
    (a message replayed after a crash is sent again with the same one).
    """
    return {
        "streamgmm-reason": reason,
        "streamgmm-position": json.dumps(position, sort_keys=True),
        "streamgmm-source": json.dumps(source, sort_keys=True),
    }


class FolderDeadLetters:
    """Dead letters as files: ``<address>.msg`` (the payload) and ``<address>.json`` (why).

    Idempotent: a message sent again after a crash rewrites the same two files.
    The sidecar is written last, so a ``.json`` always has its ``.msg``.

    Parameters
    ----------
    folder : path-like
        Created on the first dead letter.
    source : dict
        The source's ``describe()``, recorded in each sidecar.
    """

    def __init__(self, folder: str | os.PathLike[str], source: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.source = source or {}

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        name = address_name(position)
        atomic_write_bytes(self.folder / f"{name}.msg", payload)
        record = {"reason": reason, "position": position, "source": self.source, "bytes": len(payload)}
        atomic_write_bytes(self.folder / f"{name}.json", json.dumps(record, sort_keys=True, indent=1).encode())

    def __repr__(self) -> str:
        return f"FolderDeadLetters({str(self.folder)!r})"


# ================================================================ messages -> batches
@dataclass(frozen=True)
class Message:
    """One broker message, where it sits, and the stream position after it.

    Attributes
    ----------
    payload : bytes
    position : dict
        The stream position after this message (what the runner commits).
    address : dict
        This message's own address (e.g. ``{"partition": 0, "offset": 17}``), for
        dead letters and messages.
    problem : str, optional
        Why the message cannot be rows, found by the broker module before decoding
        (e.g. a Redis entry without the payload field): it is dead-lettered with it.
    """

    payload: bytes
    position: dict[str, Any]
    address: dict[str, Any]
    problem: str | None = None


@dataclass
class _Decoded:
    message: Message
    rows: np.ndarray | None
    reason: str | None


def _where(address: dict[str, Any]) -> str:
    return " ".join(f"{key} {value}" for key, value in address.items())


class BrokerSource:
    """Base of the broker sources: whole messages to batches, dead letters, reconnects.

    Subclasses set ``kind`` and implement ``_fetch``, ``describe`` and, for
    connection loss, ``_reconnect`` and ``transient_errors`` (see the module
    docstring), and call ``super().__init__(...)`` with the shared settings.

    Parameters
    ----------
    fmt : {"json", "binary", "arrow"}
        The message format.
    columns : list of str, optional
        Arrow feature columns.
    dead_letters : DeadLetterSink, optional
        Where undecodable messages go (None: only logged and counted).
    n_features : int, optional
        The stream's D; when None, the first good message sets it.
    reconnect_seconds : float or None
        How long a lost connection is retried before the stream fails (None: forever).
    backoff : Backoff, optional
    """

    replayable = True
    kind = "broker"
    #: The client's exceptions that mean "connection lost; reconnect and retry".
    transient_errors: ClassVar[tuple[type[BaseException], ...]] = (ConnectionError, TimeoutError)

    def __init__(
        self,
        *,
        fmt: str = "binary",
        columns: Sequence[str] | None = None,
        dead_letters: DeadLetterSink | None = None,
        n_features: int | None = None,
        reconnect_seconds: float | None = 300.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.fmt = fmt
        self.columns = None if columns is None else list(columns)
        self.dead_letters = dead_letters
        self.n_features = n_features
        self.reconnect_seconds = reconnect_seconds
        self.backoff = backoff or Backoff()
        self._buffer: list[_Decoded] = []
        self._buffer_start: dict[str, Any] | None = None
        self._buffer_valid = False
        #: The last message of the last batch returned (for a broker's ``identity``).
        self.last_message: Message | None = None

    # --------------------------------------------------------------- broker-specific
    def _fetch(self, after: dict[str, Any] | None) -> list[Message]:
        """Some messages after ``after`` (see the module docstring)."""
        raise NotImplementedError

    def _reconnect(self) -> None:
        """Open the connection again after a transient error (default: nothing to do)."""

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Called by the runner right after ``position`` was committed (default: nothing)."""

    def close(self) -> None:
        """Release the connection (default: nothing)."""

    # ------------------------------------------------------------------------ shared
    def expect_features(self, n_features: int) -> None:
        """Dead-letter messages with another number of features from now on."""
        if n_features != self.n_features:
            self.n_features = n_features
            self._buffer_valid = False  # decoded under another D: decode again

    def _decode(self, message: Message) -> _Decoded:
        if message.problem is not None:
            return _Decoded(message, None, message.problem)
        try:
            rows = decode_rows(message.payload, self.fmt, n_features=self.n_features, columns=self.columns)
        except MessageDecodeError as exc:
            return _Decoded(message, None, exc.reason)
        if self.n_features is None and rows.shape[0]:
            self.n_features = rows.shape[1]  # the first good message sets the layout
        return _Decoded(message, rows, None)

    def _fetch_retrying(self, after: dict[str, Any] | None) -> list[Message]:
        return retry(
            lambda: self._fetch(after), errors=self.transient_errors, budget=self.reconnect_seconds,
            what=f"reading from the {self.kind} broker", backoff=self.backoff,
            before_retry=self._reconnect,
        )

    def _fill(self, position: dict[str, Any] | None, max_rows: int) -> int:
        """Buffer messages after ``position`` until ``max_rows`` rows or nothing more now; rows held."""
        if not self._buffer_valid or self._buffer_start != position:
            self._buffer, self._buffer_start, self._buffer_valid = [], position, True
        held = sum(0 if d.rows is None else d.rows.shape[0] for d in self._buffer)
        while held < max_rows:
            after = self._buffer[-1].message.position if self._buffer else position
            messages = self._fetch_retrying(after)
            if not messages:
                break
            for message in messages:
                decoded = self._decode(message)
                self._buffer.append(decoded)
                held += 0 if decoded.rows is None else decoded.rows.shape[0]
        return held

    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = False) -> Batch | None:
        held = self._fill(position, max_rows)
        if not self._buffer or (held < max_rows and not partial):
            return None
        taken, rows_taken = 0, 0
        for decoded in self._buffer:
            taken += 1
            rows_taken += 0 if decoded.rows is None else decoded.rows.shape[0]
            if rows_taken >= max_rows:
                break
        batch_part, self._buffer = self._buffer[:taken], self._buffer[taken:]
        dead = [d for d in batch_part if d.rows is None]
        for decoded in dead:  # before the runner commits the position after them
            self._send_dead_letter(decoded)
        blocks = [d.rows for d in batch_part if d.rows is not None]
        width = self.n_features or 0
        rows = np.concatenate(blocks) if len(blocks) > 1 else (blocks[0] if blocks else np.empty((0, width)))
        last = batch_part[-1].message.position
        self._buffer_start = last
        self.last_message = batch_part[-1].message
        first_address, last_address = batch_part[0].message.address, batch_part[-1].message.address
        where = f"{self.kind} messages {_where(first_address)} to {_where(last_address)}"
        return Batch(rows=rows, position=last, where=where, dead_letters=len(dead))

    def _send_dead_letter(self, decoded: _Decoded) -> None:
        message = decoded.message
        reason = f"message at {_where(message.address)} {decoded.reason}"
        logger.warning("dead letter (%s): %s; sent to %r", self.kind, reason, self.dead_letters)
        if self.dead_letters is not None:
            self.dead_letters.send(message.payload, reason, message.address)


# ================================================================== from the config
#: Where each broker listens unless the address says otherwise.
DEFAULT_PORTS = {"kafka": 9092, "redis": 6379, "nats": 4222, "mqtt": 1883}
#: The folder of dead letters inside the state folder, when the config names none.
DEFAULT_DEAD_LETTER_FOLDER = "dead-letters"


def endpoints(kind: str, address: str) -> list[tuple[str, int]]:
    """``(host, port)`` of each server in a broker address.

    ``host:port[,host:port]`` (Kafka's bootstrap servers) or a URL
    (``redis://host:port/0``, ``nats://a:4222,nats://b:4222``, ``mqtt://host``).
    """
    found = []
    for part in address.split(","):
        part = part.strip()
        if "://" in part:
            part = part.split("://", 1)[1]
        part = part.split("/", 1)[0].rsplit("@", 1)[-1]  # no path, no user:password@
        host, _, port = part.rpartition(":") if ":" in part else (part, "", "")
        if not port.isdigit():
            host, port = part, ""
        found.append((host.strip("[]") or "127.0.0.1", int(port) if port else DEFAULT_PORTS[kind]))
    return found


def unreachable(kind: str, address: str, timeout: float = 2.0) -> str | None:
    """Why no server of ``address`` accepts a TCP connection within ``timeout`` (None: one does)."""
    problems = []
    for host, port in endpoints(kind, address):
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return None
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc.strerror or exc}")
    return "; ".join(problems)


def dead_letter_sink(
    config: Any, state_dir: str | os.PathLike[str], source: BrokerSource,
    broker_sink: Callable[[str], DeadLetterSink],
) -> DeadLetterSink:
    """The dead-letter sink a source config asks for.

    A folder (``source.dead_letter.folder``, by default ``dead-letters`` inside the
    state folder), or the broker destination it names, built by
    ``broker_sink(name)`` (the broker's module).
    """
    if config.dead_letter is None:
        return FolderDeadLetters(Path(state_dir) / DEFAULT_DEAD_LETTER_FOLDER, source.describe())
    where, value = config.dead_letter.destination
    return FolderDeadLetters(value, source.describe()) if where == "folder" else broker_sink(value)


def shared_options(config: Any) -> dict[str, Any]:
    """The :class:`BrokerSource` settings every broker takes from ``source`` in the config."""
    return {
        "fmt": config.format,
        "columns": config.columns,
        "reconnect_seconds": config.reconnect_seconds,
    }


def credentials(config: Any) -> dict[str, str | None]:
    """``username``, ``password``, ``token`` from the environment variables the config names.

    Raises
    ------
    BrokerConfigError
        A named variable is not set (naming ``source.credentials.<key>``).
    """
    given = config.credentials
    names = ("username", "password", "token")
    if given is None:
        return dict.fromkeys(names)
    return {
        name: secret_from_env(getattr(given, f"{name}_env"), f"source.credentials.{name}_env")
        for name in names
    }
