"""NATS JetStream: a stream read by sequence number, and a producer into it.

**Reading.** A JetStream stream numbers its messages (stream sequence 1, 2, ...),
keeps them (file or memory storage, by its retention limits), and serves any of
them by number. :class:`NatsJetStreamSource` reads the messages after the
committed position with *direct gets* by sequence (``next`` = the first message
at or after a number, skipping deleted ones; on the stream's subject filter when
``subject`` is set), several requests in flight at once. No consumer is created
on the server: the position ``{"stream_seq": n}`` (the next sequence to read) in
the runner's state file is the whole truth, so ``acknowledge`` has nothing to do
and a restarted runner reads exactly the messages after its commit. Batches are
whole messages (:class:`~streamgmm.online.brokers.common.BrokerSource`), so the
model of a killed and restarted run equals the uninterrupted one bit for bit.

The stream must allow direct gets (``allow_direct``, the default of streams made
by :class:`NatsProducer` and of ``nats stream add``); otherwise the slower API
get (base64 in JSON) is used.

**Identity.** A stream is identified by its name and its creation time (the
server's ``created``): a stream deleted and created again under the same name
restarts its sequence numbers, so a position committed on the old one is
refused (:class:`~streamgmm.online.sources.SourceMismatchError`, with both
creation times), as is a stream whose last sequence is now before the committed
position, or whose first message is after it (messages removed by retention
limits or a purge before the stream read them: rows would be skipped).

**Dead letters** go to a folder (:class:`~.common.FolderDeadLetters`) or to a
NATS subject (:class:`NatsDeadLetters`: published through JetStream, so a stream
must capture that subject; the headers carry the reason and the address
``{"stream_seq": n}``: a message replayed after a crash is published again with
the same address, consumers de-duplicate by it).

**Connection loss**: a request that fails because the server is gone is retried
after reconnecting, with the shared backoff (:mod:`.common`); the reads resume
at the position being read. A server that is down at start is a clear error
naming ``source.url`` unless ``source.wait_for_broker`` asks to wait.

nats-py is asynchronous: the client runs on a private event loop in a daemon
thread (:class:`_LoopThread`), and every call waits for its result with a
timeout, so the runner stays plain synchronous code.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

from ..sources import Batch, SourceError, SourceMismatchError
from .common import (
    Backoff,
    BrokerSource,
    DeadLetterSink,
    Message,
    connect_at_start,
    credentials,
    dead_letter_fields,
    dead_letter_sink,
    require_client,
    retry,
    shared_options,
)

try:  # the client is an optional extra: streamgmm[nats]
    import nats
    import nats.errors
    import nats.js.errors
except ImportError:  # pragma: no cover - exercised only without the extra
    nats = None  # type: ignore[assignment]

__all__ = ["NatsJetStreamSource", "NatsDeadLetters", "NatsProducer", "NatsConnection", "build", "produce"]

logger = logging.getLogger("streamgmm.online")

T = TypeVar("T")

#: Seconds one request to the server may take before it counts as a lost connection.
REQUEST_TIMEOUT = 5.0


def _transient_errors() -> tuple[type[BaseException], ...]:
    """The client's exceptions that mean "the server is gone or slow; reconnect and retry"."""
    if nats is None:
        return (ConnectionError, TimeoutError)
    return (
        ConnectionError, TimeoutError, OSError,
        nats.errors.ConnectionClosedError, nats.errors.NoServersError, nats.errors.StaleConnectionError,
        nats.errors.NoRespondersError, nats.errors.ConnectionReconnectingError,
        nats.js.errors.ServiceUnavailableError,
    )


class _LoopThread:
    """An asyncio event loop in a daemon thread; :meth:`run` waits for a coroutine's result."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="streamgmm-nats", daemon=True)
        self._thread.start()

    def run(self, coroutine: Awaitable[T], timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


class NatsConnection:
    """One connection to a NATS server with JetStream, usable from synchronous code.

    Parameters
    ----------
    url : str
        ``nats://host:port`` (several separated by commas).
    user, password, token : str, optional
        Credentials (read from environment variables by the caller).
    tls : dict, optional
        ``ca_file``, ``cert_file``, ``key_file``: an SSL context is built from them.
    """

    def __init__(
        self,
        url: str,
        *,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls: dict[str, Any] | None = None,
    ) -> None:
        require_client(nats, "nats", "nats", "nats-py")
        self.url = url
        self._options: dict[str, Any] = {
            "servers": [part.strip() for part in url.split(",")],
            "connect_timeout": REQUEST_TIMEOUT,
            # Reconnects are ours (with the shared backoff): the client gives up at once.
            "allow_reconnect": False,
            "max_reconnect_attempts": 0,
        }
        if user is not None:
            self._options.update(user=user, password=password)
        if token is not None:
            self._options["token"] = token
        if tls:
            import ssl

            context = ssl.create_default_context(cafile=tls.get("ca_file"))
            if tls.get("cert_file"):
                context.load_cert_chain(tls["cert_file"], tls.get("key_file"))
            if tls.get("verify") is False:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            self._options["tls"] = context
        self._loop = _LoopThread()
        self.client: Any = None
        self.js: Any = None

    def run(self, make: Callable[[], Awaitable[T]], timeout: float = REQUEST_TIMEOUT * 2) -> T:
        """Run the coroutine ``make()`` on the connection's loop and return its result."""
        return self._loop.run(make(), timeout)

    def open(self) -> None:
        """Connect (again); raises one of the transient errors if the server does not answer."""
        self.close_client()

        async def connect() -> None:
            async def quiet(exc: Exception) -> None:  # errors surface as exceptions of the calls
                logger.debug("nats client: %s", exc)

            self.client = await nats.connect(**self._options, error_cb=quiet)
            self.js = self.client.jetstream(timeout=REQUEST_TIMEOUT)

        self.run(connect)

    def close_client(self) -> None:
        """Close the client connection (if any), keeping the loop for a reconnect."""
        if self.client is not None:
            client, self.client, self.js = self.client, None, None
            try:
                self.run(client.close, timeout=REQUEST_TIMEOUT)
            except Exception as exc:  # closing a dead connection may fail: it is gone anyway
                logger.debug("closing the nats connection: %s", exc)

    def close(self) -> None:
        """Close the connection and stop its loop."""
        self.close_client()
        self._loop.stop()


def _connect(connection: NatsConnection, url_key: str, wait_for_broker: float | None) -> None:
    connect_at_start(
        connection.open, url=connection.url, key=url_key, wait_for_broker=wait_for_broker,
        errors=_transient_errors(),
    )


def _describe_stream(identity: dict[str, Any]) -> str:
    return (
        f"stream '{identity.get('stream')}' created {identity.get('created') or 'unknown'}"
        + (f", messages {identity['first_seq']}-{identity['last_seq']}" if "last_seq" in identity else "")
    )


class NatsJetStreamSource(BrokerSource):
    """Rows from a NATS JetStream stream, read by stream sequence (see the module docstring).

    Parameters
    ----------
    url : str
        ``nats://127.0.0.1:4222``.
    stream : str
        The JetStream stream's name.
    subject : str, optional
        Read only the messages of this subject (wildcards allowed); default all.
    fmt, columns, n_features, reconnect_seconds, backoff
        See :class:`~.common.BrokerSource`.
    dead_letters : DeadLetterSink or str, optional
        A sink, or a NATS subject (str) for :class:`NatsDeadLetters` on this connection.
    wait_for_broker : float, optional
        Seconds to wait for a server that is down at start (default: fail at once).
    user, password, token, tls
        See :class:`NatsConnection`.
    prefetch : int
        Direct gets in flight at once.
    """

    kind = "nats"

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        subject: str | None = None,
        fmt: str = "binary",
        columns: Sequence[str] | None = None,
        dead_letters: DeadLetterSink | str | None = None,
        n_features: int | None = None,
        wait_for_broker: float | None = None,
        reconnect_seconds: float | None = 300.0,
        backoff: Backoff | None = None,
        user: str | None = None,
        password: str | None = None,
        token: str | None = None,
        tls: dict[str, Any] | None = None,
        prefetch: int = 32,
    ) -> None:
        self.url, self.stream, self.subject, self.prefetch = url, stream, subject, int(prefetch)
        self.transient_errors = _transient_errors()
        self.connection = NatsConnection(url, user=user, password=password, token=token, tls=tls)
        _connect(self.connection, "source.url", wait_for_broker)
        if isinstance(dead_letters, str):
            dead_letters = NatsDeadLetters(self.connection, dead_letters, self.describe())
        super().__init__(
            fmt=fmt, columns=columns, dead_letters=dead_letters, n_features=n_features,
            reconnect_seconds=reconnect_seconds, backoff=backoff,
        )
        self._info: Any = None
        self._created: str | None = None
        self._refresh_info()

    # ------------------------------------------------------------------ stream facts
    def describe(self) -> dict[str, Any]:
        return {"kind": "nats", "url": self.url, "stream": self.stream, "subject": self.subject}

    def _stream_info(self) -> Any:
        try:
            return self.connection.run(lambda: self.connection.js.stream_info(self.stream))
        except nats.js.errors.NotFoundError as exc:
            raise SourceError(
                f"source.stream: the NATS JetStream stream '{self.stream}' does not exist on "
                f"{self.url}. Create it (e.g. `nats stream add {self.stream} --subjects ...`, or "
                "`streamgmm replay ... nats` which creates it) or fix the name."
            ) from exc

    def _refresh_info(self) -> Any:
        """The stream's state now; a stream recreated while the runner reads it is refused."""
        info = self._stream_info()
        created = None if info.created is None else info.created.isoformat()
        if self._created is not None and created != self._created:
            raise SourceMismatchError(
                f"NATS stream '{self.stream}' was deleted and created again while the stream ran "
                f"(created {self._created} then, {created} now): its sequence numbers started "
                "over. Start a new stream (another state folder) or use --reset-source.",
                {"stream": self.stream, "created": self._created}, {"stream": self.stream, "created": created},
            )
        self._info, self._created = info, created
        return info

    def _current_identity(self) -> dict[str, Any]:
        state = self._info.state
        return {
            "kind": "nats", "stream": self.stream, "created": self._created,
            "first_seq": state.first_seq, "last_seq": state.last_seq,
        }

    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The stream's name and creation time, and the sequence consumed up to."""
        return {
            "kind": "nats", "stream": self.stream, "subject": self.subject, "created": self._created,
            "stream_seq": int(batch.position["stream_seq"]),
        }

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse a recreated stream, or one that lost messages the stream has not read.

        Raises
        ------
        SourceMismatchError
            Naming the committed and the current creation time and sequence range.
        """
        retry(
            self._refresh_info, errors=self.transient_errors, budget=self.reconnect_seconds,
            what=f"reading the state of NATS stream '{self.stream}'", backoff=self.backoff,
            before_retry=self._reconnect,
        )
        current = self._current_identity()
        next_seq = int((position or recorded).get("stream_seq", 1))
        problem = None
        if recorded.get("created") != self._created:
            problem = "it was deleted and created again (another creation time): its sequence numbers started over"
        elif next_seq - 1 > current["last_seq"]:
            problem = f"its last message is {current['last_seq']}, before the {next_seq - 1} the stream consumed"
        elif next_seq < current["first_seq"] and current["last_seq"] >= next_seq:
            problem = (
                f"its first message is now {current['first_seq']}: messages {next_seq}-"
                f"{current['first_seq'] - 1} were removed (retention limits or a purge) before "
                "the stream read them"
            )
        if problem is not None:
            raise SourceMismatchError(
                f"NATS stream '{self.stream}' on {self.url} is not the stream's source any more: "
                f"{problem}. Committed: {_describe_stream(recorded)}, next sequence {next_seq}; "
                f"now: {_describe_stream(current)}.",
                recorded, current,
            )

    # ---------------------------------------------------------------------- reading
    def _reconnect(self) -> None:
        self.connection.open()
        self._refresh_info()

    async def _get_from(self, first: int, count: int) -> list[Any]:
        """The messages at or after ``first``, ``first + 1``, ... (``count`` requests at once)."""
        js, direct = self.connection.js, bool(self._info.config.allow_direct)

        async def get(seq: int) -> Any:
            try:
                return await js.get_msg(self.stream, seq=seq, subject=self.subject, direct=direct, next=True)
            except nats.js.errors.NotFoundError:
                return None

        return list(await asyncio.gather(*(get(first + i) for i in range(count))))

    def _fetch(self, after: dict[str, Any] | None) -> list[Message]:
        next_seq = 1 if after is None else int(after["stream_seq"])
        if next_seq > self._info.state.last_seq:
            self._refresh_info()  # more may have arrived
            if next_seq > self._info.state.last_seq:
                return []
        count = max(1, min(self.prefetch, self._info.state.last_seq - next_seq + 1))
        found = self.connection.run(lambda: self._get_from(next_seq, count))
        messages: list[Message] = []
        expected = next_seq
        for raw in found:  # request i returns the first message at or after i: keep each once
            if raw is None:
                break
            if raw.seq < expected:
                continue
            messages.append(
                Message(payload=raw.data or b"", position={"stream_seq": raw.seq + 1}, address={"stream_seq": raw.seq})
            )
            expected = raw.seq + 1
        return messages

    def close(self) -> None:
        self.connection.close()


class NatsDeadLetters:
    """Dead letters published to a NATS subject through JetStream (a stream must capture it).

    The payload is the message as it was; the headers are
    :func:`~.common.dead_letter_fields` (reason, address ``{"stream_seq": n}``, source).
    """

    def __init__(self, connection: NatsConnection, subject: str, source: dict[str, Any]) -> None:
        self.connection, self.subject, self.source = connection, subject, source

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        headers = dead_letter_fields(reason, position, self.source)
        try:
            self.connection.run(lambda: self.connection.js.publish(self.subject, payload, headers=headers))
        except nats.errors.NoRespondersError as exc:
            raise SourceError(
                f"source.dead_letter.subject: no JetStream stream captures the subject "
                f"'{self.subject}' on {self.connection.url}, so a dead letter would be lost. Create "
                f"one (e.g. `nats stream add DEAD --subjects '{self.subject}'`) or use "
                "source.dead_letter.folder."
            ) from exc

    def __repr__(self) -> str:
        return f"NatsDeadLetters({self.subject!r})"


class NatsProducer:
    """Publishes payloads to a JetStream subject, creating the stream if it does not exist.

    Each publish waits for the server's acknowledgement (the message is stored),
    ``window`` of them in flight at once.

    Parameters
    ----------
    url : str
    stream : str
        Created (file storage, ``allow_direct``) with ``subject`` when missing.
    subject : str
    wait_for_broker : float, optional
    """

    def __init__(self, url: str, stream: str, subject: str, *, wait_for_broker: float | None = None,
                 window: int = 64, **credentials: Any) -> None:
        self.connection = NatsConnection(url, **credentials)
        _connect(self.connection, "--url", wait_for_broker)
        self.stream, self.subject, self.window = stream, subject, window
        self._pending: list[bytes] = []
        js = self.connection.js

        async def ensure_stream() -> None:
            try:
                await js.stream_info(stream)
            except nats.js.errors.NotFoundError:
                await js.add_stream(name=stream, subjects=[subject], allow_direct=True)

        self.connection.run(ensure_stream)

    def send(self, payload: bytes) -> None:
        """Queue ``payload``; published (and acknowledged) by the window or :meth:`flush`."""
        self._pending.append(payload)
        if len(self._pending) >= self.window:
            self.flush()

    def flush(self) -> None:
        """Publish the queued payloads and wait until the server stored each, in order."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        js = self.connection.js

        async def publish_all() -> None:
            # One at a time keeps the stream order = the send order.
            for payload in pending:
                await js.publish(self.subject, payload, stream=self.stream)

        self.connection.run(publish_all, timeout=REQUEST_TIMEOUT * (2 + len(pending)))

    def close(self) -> None:
        self.flush()
        self.connection.close()



def build(config: Any, state_dir: str) -> NatsJetStreamSource:
    """The source of a validated ``source`` section of kind ``nats``."""
    secrets = credentials(config)
    source = NatsJetStreamSource(
        config.url, config.stream, subject=config.subject, user=secrets["username"],
        password=secrets["password"], token=secrets["token"],
        tls=None if config.tls is None else config.tls.model_dump(),
        wait_for_broker=config.wait_for_broker, **shared_options(config),
    )
    source.dead_letters = dead_letter_sink(
        config, state_dir, source, lambda subject: NatsDeadLetters(source.connection, subject, source.describe())
    )
    return source


def produce(url: str, stream: str, subject: str, payloads: Iterable[bytes], *, paced: bool = False,
            wait_for_broker: float | None = None, **credentials: Any) -> int:
    """Publish each payload to ``subject`` (creating ``stream`` if missing); the number published.

    ``paced``: publish each message as it comes (a live producer), instead of in
    windows of 64 awaited together.
    """
    producer = NatsProducer(url, stream, subject, wait_for_broker=wait_for_broker,
                            window=1 if paced else 64, **credentials)
    count = 0
    try:
        for payload in payloads:
            producer.send(payload)
            count += 1
    finally:
        producer.close()
    return count
