"""MQTT: QoS 1 messages on a persistent session, spooled, de-duplicated by producer sequence.

MQTT cannot re-read a topic from a position: a message is delivered to a
subscriber, acknowledged (PUBACK) and gone. What this module does to still give
each row to the model exactly once:

1. **Producer sequence.** Every message starts with a 12-byte header: the magic
   ``b"SGSQ"`` and the producer's sequence number (uint64, little-endian), then
   the rows in the stream's format (:mod:`streamgmm.online.messages`). MQTT 3.1.1
   (which amqtt speaks) has no user properties, hence a payload header.
   :class:`MqttProducer` and ``streamgmm replay ... mqtt`` write it; a replay of
   the same data sends the same numbers, so re-sending is harmless.
2. **Persistent session, QoS 1.** The consumer subscribes with QoS 1 under a fixed
   ``client_id`` and ``clean_session`` false: the broker queues the messages that
   arrive while the consumer is away and re-sends unacknowledged ones.
3. **Spool, then PUBACK.** Each message received is written (atomically) to the
   consumer's *spool* folder as ``<seq>.msg``, made durable (one ``syncfs`` every
   20 ms for all messages spooled meanwhile: group commit) and only then acknowledged.
   A message whose sequence is already spooled or already committed (a
   redelivery) is acknowledged and dropped. The spool is what the runner reads:
   by position ``{"seq": n}`` (the last sequence consumed), in sequence order,
   without gaps (a missing number is waited for), so the source is replayable
   and a killed, restarted runner ends bitwise equal to an uninterrupted one.
   After each commit, ``acknowledge(position)`` deletes the spooled messages up
   to it.

Why PUBACK after the spool write and not after the runner's commit: a broker
need not wait for a PUBACK (amqtt 0.12 drops a message from the session when
its PUBACK does not come within 5 s or when the client disconnects, so a
withheld PUBACK loses the message). Acknowledging once the message is durable
on the consumer's side keeps the promise whatever the broker does after the
PUBACK, and the runner's commit stays the single truth (state file + spool).

What exactly-once means here, and its limits:

- Each sequence number is used at most once (de-duplication by number) and, once
  it is in the spool, exactly once: the spool and the runner's state survive
  kill -9 of the consumer at any moment.
- A message the broker lost before it reached the spool cannot be recovered by
  the consumer: a broker restart without a session store, a broker that drops
  unacknowledged messages when the consumer leaves or is slow (amqtt 0.12 drops the
  messages in flight when the consumer dies or disconnects, and those whose PUBACK
  takes over 5 s, e.g. on an overloaded machine; its SQLite session store keeps
  only text payloads), a session that expired. The stream then
  waits at the missing number (logged) until the producer sends it again: a
  producer that re-sends what it is not sure of (``streamgmm replay`` re-sends a
  whole replay; duplicates are dropped) closes the gap. With a broker that keeps
  sessions and in-flight messages on disk (e.g. mosquitto with persistence) no
  re-sending is needed.
- One producer (one sequence) per topic; a message without the header is
  dead-lettered at once (it has no place in the stream) and not counted in the
  batches; a message with the header but undecodable rows is dead-lettered with
  its sequence when its batch is read, like in every broker source.
- Reconnects are the client's (paho-mqtt): exponential delay from 1 s up to
  ``max_reconnect_delay``, each logged; the topic is subscribed again on every
  connection (a broker that lost the session gets it back). To lose as little as
  possible on amqtt, the source lets a backlog land before its first read and
  before it leaves (until nothing arrives for 0.3 s, at most 5 s).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import struct
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import urlparse

from ...io.atomic import atomic_write_bytes, fsync_directory
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
    endpoints,
    require_client,
    shared_options,
)

try:  # the client is an optional extra: streamgmm[mqtt]
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion
except ImportError:  # pragma: no cover - exercised only without the extra
    paho = None  # type: ignore[assignment]

__all__ = [
    "MqttSource", "MqttProducer", "MqttDeadLetters", "create_session", "frame", "unframe", "build", "produce", "SEQUENCE_HEADER",
    "SPOOL_ID_FILENAME", "DEFAULT_SPOOL_FOLDER",
]

logger = logging.getLogger("streamgmm.online")

#: magic, producer sequence (uint64): little-endian, 12 bytes before the rows.
SEQUENCE_HEADER = struct.Struct("<4sQ")
SEQUENCE_MAGIC = b"SGSQ"
#: The id a spool keeps of itself (a recreated spool has another).
SPOOL_ID_FILENAME = ".streamgmm-spool-id"
#: The spool's folder inside the stream's state folder when ``source.spool`` is not given.
DEFAULT_SPOOL_FOLDER = "mqtt-spool"
#: Spooled messages without the sequence header (dead-lettered when the stream next reads).
UNSEQUENCED_SUFFIX = ".unsequenced"
#: Spooled messages read per fetch.
FETCH_MESSAGES = 64
#: On close: quiet time (no message arriving) awaited before leaving, and the longest wait.
CLOSE_QUIET, CLOSE_WAIT = 0.3, 5.0
#: Longest time a spooled message waits for its sync and PUBACK (group commit).
FLUSH_SECONDS = 0.02
#: Seconds a producer waits for the broker's PUBACKs of what it sent.
PUBLISH_TIMEOUT = 120.0
#: Seconds to wait for the broker's CONNACK.
CONNECT_TIMEOUT = 10.0


def frame(seq: int, body: bytes) -> bytes:
    """``body`` with the producer-sequence header in front."""
    return SEQUENCE_HEADER.pack(SEQUENCE_MAGIC, int(seq)) + body


def unframe(payload: bytes) -> tuple[int, bytes]:
    """The producer sequence and the body of a framed payload.

    Raises
    ------
    ValueError
        The payload does not start with the header.
    """
    if len(payload) < SEQUENCE_HEADER.size or payload[:4] != SEQUENCE_MAGIC:
        raise ValueError(
            f"has no streamgmm sequence header (the first {SEQUENCE_HEADER.size} bytes must be "
            f"{SEQUENCE_MAGIC!r} and a uint64 sequence number)"
        )
    _, seq = SEQUENCE_HEADER.unpack_from(payload)
    return int(seq), payload[SEQUENCE_HEADER.size:]


def _host_port(url: str) -> tuple[str, int]:
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.scheme not in ("mqtt", "tcp", "mqtts", "ssl"):
        raise SourceError(f"source.url: {url!r} is not an MQTT address (mqtt://host:port)")
    if parsed.port is None and parsed.scheme in ("mqtts", "ssl"):
        return parsed.hostname or "127.0.0.1", 8883
    return endpoints("mqtt", url)[0]


def _url_user(url: str) -> str | None:
    """The user name in ``mqtt://user@host:port`` (a password belongs in credentials, not the URL)."""
    parsed = urlparse(url if "://" in url else f"mqtt://{url}")
    if parsed.password is not None:
        raise SourceError(
            "source.url: put no password in the MQTT URL; name the variable holding it in "
            "source.credentials.password_env"
        )
    return parsed.username


def create_session(url: str, topic: str, client_id: str, *, username: str | None = None,
                   password: str | None = None, tls: dict[str, Any] | None = None) -> None:
    """Create (or keep) the persistent QoS 1 session of a consumer, then leave it.

    MQTT delivers only to subscriptions that exist when a message is published:
    run this (``streamgmm replay ... mqtt --session CLIENT_ID``) before a producer
    starts, so that the broker queues every message for the consumer.
    """
    host, port = _host_port(url)
    client = _client(client_id, False, username if username is not None else _url_user(url), password, tls)
    subscribed = threading.Event()
    connected = _Connected()

    def on_connect(c: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            connected.refused = str(reason)
        else:
            c.subscribe(topic, qos=1)
        connected.event.set()

    client.on_connect = on_connect
    client.on_subscribe = lambda *args: subscribed.set()
    client.connect(host, port, keepalive=30)
    client.loop_start()
    try:
        connected.wait(url)
        if not subscribed.wait(CONNECT_TIMEOUT):
            raise ConnectionError(f"the MQTT broker at {url} did not confirm the subscription to {topic!r}")
    finally:
        client.loop_stop()
        client.disconnect()


def _client(client_id: str, clean: bool, username: str | None, password: str | None,
            tls: dict[str, Any] | None) -> Any:
    require_client(paho, "mqtt", "mqtt", "paho-mqtt")
    client = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, clean_session=clean,
        protocol=paho.MQTTv311, manual_ack=True,
    )
    if username is not None:
        client.username_pw_set(username, password)
    if tls:
        client.tls_set(ca_certs=tls.get("ca_file"), certfile=tls.get("cert_file"), keyfile=tls.get("key_file"))
        if tls.get("verify") is False:
            client.tls_insecure_set(True)
    return client


def _syncfs(folder: Path) -> bool:
    """``syncfs(2)`` of the filesystem holding ``folder`` (Linux); False where it is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error), str(folder))
    finally:
        os.close(fd)
    return True


class _Connected:
    """Waits for the CONNACK of a paho client; the refusal reason if there is one."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.refused: str | None = None

    def wait(self, url: str) -> None:
        if not self.event.wait(CONNECT_TIMEOUT):
            raise ConnectionError(f"no answer (CONNACK) from the MQTT broker at {url} in {CONNECT_TIMEOUT:g} s")
        if self.refused is not None:
            raise SourceError(f"source.url: the MQTT broker at {url} refused the connection: {self.refused}")


class MqttSource(BrokerSource):
    """Rows from an MQTT topic through a local spool (see the module docstring).

    Parameters
    ----------
    url : str
        ``mqtt://127.0.0.1:1883``.
    topic : str
        The topic (filter) to subscribe to, with QoS 1.
    client_id : str
        The persistent session's id: the same for every run of one stream.
    spool : path-like
        The spool folder (created; it belongs to this stream, like its state folder).
    fmt, columns, n_features, reconnect_seconds, backoff
        See :class:`~.common.BrokerSource`.
    dead_letters : DeadLetterSink, optional
    wait_for_broker : float, optional
        Seconds to wait for a broker that is down at start (default: fail at once).
    username, password : str, optional
        Credentials (read from environment variables by the caller).
    tls : dict, optional
        ``ca_file``, ``cert_file``, ``key_file``, ``verify``.
    max_reconnect_delay : float
        Longest wait between reconnection attempts, seconds.
    """

    kind = "mqtt"

    def __init__(
        self,
        url: str,
        topic: str,
        *,
        client_id: str,
        spool: str | os.PathLike[str],
        fmt: str = "binary",
        columns: Sequence[str] | None = None,
        dead_letters: DeadLetterSink | None = None,
        n_features: int | None = None,
        wait_for_broker: float | None = None,
        reconnect_seconds: float | None = 300.0,
        backoff: Backoff | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: dict[str, Any] | None = None,
        max_reconnect_delay: float = 30.0,
    ) -> None:
        super().__init__(
            fmt=fmt, columns=columns, dead_letters=dead_letters, n_features=n_features,
            reconnect_seconds=reconnect_seconds, backoff=backoff,
        )
        self.url, self.topic, self.client_id = url, topic, client_id
        self.spool = Path(spool)
        self.wait_for_broker = wait_for_broker
        self._floor = -1  # sequences up to here are committed (duplicates when they come again)
        self._swept_to: int | None = None  # spooled messages up to here are deleted
        self._waiting_for: int | None = None
        self._address = _host_port(url)
        self._client = _client(client_id, False, username if username is not None else _url_user(url),
                               password, tls)
        self._last_arrival = 0.0
        self._unflushed: list[tuple[int, int, Path]] = []  # spooled, not yet synced nor acknowledged
        self._unflushed_lock = threading.Lock()
        self._stop_flushing = threading.Event()
        self._flush_thread: threading.Thread | None = None
        self._client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(max_reconnect_delay)))
        self._connected: _Connected | None = None
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message

    def connect(self) -> None:
        """Create the spool and join the persistent session (once; the client reconnects itself).

        Called at the first read or identity check, i.e. after the runner made its
        state folder ready (the default spool lives in it), or by a producer's
        caller to create the session before messages are published.

        Raises
        ------
        BrokerUnavailableError
            The broker cannot be reached (naming ``source.url``), after
            ``wait_for_broker`` seconds if set.
        """
        if self._connected is not None:
            return
        self.spool.mkdir(parents=True, exist_ok=True)
        host, port = self._address
        connect_at_start(
            lambda: self._client.connect(host, port, keepalive=30), url=self.url, key="source.url",
            wait_for_broker=self.wait_for_broker, errors=(OSError,),
        )
        self._connected = _Connected()
        self._stop_flushing.clear()
        self._flush_thread = threading.Thread(target=self._flusher, name="streamgmm-mqtt-spool", daemon=True)
        self._flush_thread.start()
        self._client.loop_start()
        self._connected.wait(self.url)
        # What the broker queued for the session comes right after the CONNACK: let it land,
        # so that a run that stops when the source is idle sees it.
        self._last_arrival = time.monotonic()
        self._settle()

    def _settle(self) -> None:
        """Wait until no message has arrived for ``CLOSE_QUIET`` seconds (at most ``CLOSE_WAIT``)."""
        deadline = time.monotonic() + CLOSE_WAIT
        while time.monotonic() - self._last_arrival < CLOSE_QUIET and time.monotonic() < deadline:
            time.sleep(CLOSE_QUIET / 4)

    # ------------------------------------------------------------------ client side
    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._connected.refused = str(reason)
        else:
            if not flags.session_present:
                logger.info("mqtt: no session for client %s at %s (new or lost): subscribing", self.client_id, self.url)
            client.subscribe(self.topic, qos=1)  # again on every connection: harmless, restores a lost session
        if self._connected is not None:
            self._connected.event.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if self._connected is not None:  # not our own close()
            logger.warning("mqtt: connection to %s lost (%s); the client reconnects", self.url, reason)

    def _spooled(self, seq: int) -> Path:
        return self.spool / f"{seq:020d}.msg"

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        """Spool the message; its PUBACK waits for the next flush (:meth:`_flush_spool`)."""
        self._last_arrival = time.monotonic()
        try:
            seq, body = unframe(message.payload)
        except ValueError:  # no place in the stream: kept aside, dead-lettered by the reading thread
            path = self.spool / f"unsequenced-{uuid.uuid4().hex}{UNSEQUENCED_SUFFIX}"
            atomic_write_bytes(path, message.payload, durable=False)
        else:
            path = self._spooled(seq)
            if seq > self._floor and not path.exists():
                atomic_write_bytes(path, body, durable=False)
        with self._unflushed_lock:
            self._unflushed.append((message.mid, message.qos, path))

    def _flush_spool(self) -> None:
        """Make the messages spooled since the last flush durable (one sync), then PUBACK them.

        Group commit: one ``syncfs`` of the spool's filesystem for all of them
        (fsync of each file and of the folder where ``syncfs`` is missing), so the
        cost of durability is paid per flush, not per message.
        """
        with self._unflushed_lock:
            pending, self._unflushed = self._unflushed, []
        if not pending:
            return
        if not _syncfs(self.spool):
            for _, _, path in pending:
                with contextlib.suppress(FileNotFoundError):  # committed and deleted meanwhile
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
            fsync_directory(self.spool)
        for mid, qos, _ in pending:
            self._client.ack(mid, qos)

    def _flusher(self) -> None:
        while not self._stop_flushing.wait(FLUSH_SECONDS):
            self._flush_spool()
        self._flush_spool()

    # --------------------------------------------------------------------- identity
    def _spool_id(self, create: bool) -> str | None:
        path = self.spool / SPOOL_ID_FILENAME
        try:
            return path.read_text().strip() or None
        except FileNotFoundError:
            if not create:
                return None
        spool_id = uuid.uuid4().hex
        atomic_write_bytes(path, f"{spool_id}\n".encode())
        return spool_id

    def describe(self) -> dict[str, Any]:
        return {"kind": "mqtt", "url": self.url, "topic": self.topic, "client_id": self.client_id,
                "spool": str(self.spool)}

    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The topic, the session's client id, the spool's id and the sequence consumed."""
        return {"kind": "mqtt", "topic": self.topic, "client_id": self.client_id,
                "spool_id": self._spool_id(create=True), "seq": int(batch.position["seq"])}

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse another topic or session, or a spool that was replaced.

        Raises
        ------
        SourceMismatchError
        """
        self.connect()
        current = {"topic": self.topic, "client_id": self.client_id, "spool_id": self._spool_id(create=False)}
        changed = [key for key in current if recorded.get(key) != current[key]]
        if changed:
            raise SourceMismatchError(
                f"MQTT source is not the stream's source any more: its {', '.join(changed)} changed "
                f"(committed: {recorded}; now: {current}). A new session or spool does not hold the "
                "messages the stream was reading.",
                recorded, current,
            )
        if position is not None:
            self._floor = int(position["seq"])

    # ---------------------------------------------------------------------- reading
    def next_batch(self, position: dict[str, Any] | None, max_rows: int, partial: bool = False) -> Batch | None:
        self.connect()  # outside the read retries: a broker down at start is an error at once
        self._dead_letter_unsequenced()
        return super().next_batch(position, max_rows, partial)

    def _dead_letter_unsequenced(self) -> None:
        """Send the spooled messages without a sequence header to the dead letters, then drop them.

        They have no place in the stream, so they are not counted in a batch.
        """
        for path in sorted(self.spool.glob(f"*{UNSEQUENCED_SUFFIX}")):
            payload = path.read_bytes()
            try:
                unframe(payload)
            except ValueError as exc:
                reason = f"message on {self.topic} {exc}"
                logger.warning("dead letter (mqtt): %s", reason)
                if self.dead_letters is not None:
                    self.dead_letters.send(payload, reason, {"unsequenced": path.name[: -len(UNSEQUENCED_SUFFIX)]})
            path.unlink()

    def _first_spooled(self) -> int | None:
        numbers = [int(name[:-4]) for name in os.listdir(self.spool) if name.endswith(".msg")]
        return min(numbers) if numbers else None

    def _fetch(self, after: dict[str, Any] | None) -> list[Message]:
        if after is None:
            first = self._first_spooled()
            if first is None:
                return []
        else:
            first = int(after["seq"]) + 1
        messages = []
        for seq in range(first, first + FETCH_MESSAGES):
            try:
                body = self._spooled(seq).read_bytes()
            except FileNotFoundError:
                self._report_gap(seq)
                break
            messages.append(Message(payload=body, position={"seq": seq}, address={"seq": seq}))
        return messages

    def _report_gap(self, seq: int) -> None:
        """Log once when later messages are spooled but ``seq`` is missing (lost by the broker)."""
        if self._waiting_for == seq:
            return
        later = [name for name in os.listdir(self.spool) if name.endswith(".msg") and int(name[:-4]) > seq]
        if later:
            self._waiting_for = seq
            logger.warning(
                "mqtt: message %d has not arrived but %d later ones have: waiting for it (the broker "
                "lost it; have the producer send it again, duplicates are dropped)", seq, len(later),
            )

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Delete the spooled messages up to the committed sequence (already PUBACKed)."""
        floor, before = int(position["seq"]), self._swept_to
        self._floor = max(self._floor, floor)
        if before is None:  # the first commit of this process: whatever lies below it
            stale = [int(name[:-4]) for name in os.listdir(self.spool) if name.endswith(".msg")]
        else:
            stale = list(range(before + 1, floor + 1))
        self._swept_to = floor
        for seq in stale:
            if seq <= floor:
                self._spooled(seq).unlink(missing_ok=True)

    def close(self) -> None:
        """Leave the session, after spooling the messages already on their way (up to a few seconds).

        A broker may drop what it sent but did not see acknowledged when the client
        leaves (amqtt does), so the client first waits until nothing has arrived
        for a moment (at most ``CLOSE_WAIT`` seconds: a producer that never pauses
        is not waited for).
        """
        if self._connected is None:
            return
        self._settle()
        self._stop_flushing.set()  # the last messages are synced and acknowledged before leaving
        if self._flush_thread is not None:
            self._flush_thread.join()
        self._connected = None
        self._client.disconnect()
        self._client.loop_stop()


class MqttDeadLetters:
    """Dead letters published to an MQTT topic (QoS 1), framed like stream messages.

    The payload is a JSON line of :func:`~.common.dead_letter_fields` (reason,
    address, source), a newline, then the message as it was. Consumers
    de-duplicate by ``streamgmm-position``.
    """

    def __init__(self, source: MqttSource, topic: str) -> None:
        self.source, self.topic = source, topic

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        fields = dead_letter_fields(reason, position, self.source.describe())
        info = self.source._client.publish(self.topic, json.dumps(fields).encode() + b"\n" + payload, qos=1)
        info.wait_for_publish(timeout=CONNECT_TIMEOUT)

    def __repr__(self) -> str:
        return f"MqttDeadLetters({self.topic!r})"


class MqttProducer:
    """Publishes framed payloads (producer sequence + rows) with QoS 1.

    ``send(payload, seq)`` frames and publishes; :meth:`flush` waits until the
    broker acknowledged every message sent.
    """

    def __init__(self, url: str, topic: str, *, client_id: str | None = None,
                 wait_for_broker: float | None = None, username: str | None = None,
                 password: str | None = None, tls: dict[str, Any] | None = None) -> None:
        host, port = _host_port(url)
        self.topic = topic
        self._client = _client(client_id or f"streamgmm-producer-{uuid.uuid4().hex[:8]}", True,
                               username if username is not None else _url_user(url), password, tls)
        self._client.max_inflight_messages_set(1000)
        self._client.max_queued_messages_set(0)
        connected = _Connected()
        self._client.on_connect = lambda *args: (
            setattr(connected, "refused", None if not args[3].is_failure else str(args[3])), connected.event.set()
        )
        connect_at_start(lambda: self._client.connect(host, port, keepalive=30), url=url, key="--url",
                         wait_for_broker=wait_for_broker, errors=(OSError,))
        self._client.loop_start()
        connected.wait(url)
        self._pending: list[Any] = []

    def send(self, payload: bytes, seq: int) -> None:
        self._pending.append(self._client.publish(self.topic, frame(seq, payload), qos=1))
        if len(self._pending) >= 500:
            self.flush()

    def flush(self) -> None:
        """Wait until the broker acknowledged every message sent (PUBACK).

        Raises
        ------
        SourceError
            Messages still unacknowledged after ``PUBLISH_TIMEOUT`` seconds (the broker
            is stuck or gone): they may be lost; send them again (duplicates are dropped).
        """
        pending, self._pending = self._pending, []
        deadline = time.monotonic() + PUBLISH_TIMEOUT
        for info in pending:
            info.wait_for_publish(timeout=max(0.0, deadline - time.monotonic()))
        unacknowledged = sum(not info.is_published() for info in pending)
        if unacknowledged:
            raise SourceError(
                f"{unacknowledged} of {len(pending)} messages to topic {self.topic!r} were not "
                f"acknowledged by the broker in {PUBLISH_TIMEOUT:g} s; send them again (the "
                "consumer drops sequences it already has)"
            )

    def close(self) -> None:
        self.flush()
        self._client.loop_stop()
        self._client.disconnect()


def build(config: Any, state_dir: str) -> MqttSource:
    """The source of a validated ``source`` section of kind ``mqtt``."""
    secrets = credentials(config)
    source = MqttSource(
        config.url, config.topic, client_id=config.client_id,
        spool=config.spool or Path(state_dir) / DEFAULT_SPOOL_FOLDER,
        username=secrets["username"], password=secrets["password"],
        tls=None if config.tls is None else config.tls.model_dump(),
        wait_for_broker=config.wait_for_broker, **shared_options(config),
    )
    source.dead_letters = dead_letter_sink(config, state_dir, source, lambda topic: MqttDeadLetters(source, topic))
    return source


def produce(url: str, topic: str, payloads: Iterable[bytes], *, first_seq: int = 1,
            session: str | None = None, wait_for_broker: float | None = None,
            username: str | None = None, password: str | None = None,
            tls: dict[str, Any] | None = None) -> int:
    """Publish each payload with QoS 1, framed with sequence ``first_seq``, ``first_seq + 1``, ...

    ``session``: the consumer's client id; its persistent session is created first
    (:func:`create_session`), so the broker queues every message for it. Sending
    the same payloads with the same numbers again is harmless (the consumer drops
    sequences it has). Returns the number published (all acknowledged by the broker).
    """
    if session is not None:
        create_session(url, topic, session, username=username, password=password, tls=tls)
    producer = MqttProducer(url, topic, wait_for_broker=wait_for_broker, username=username,
                            password=password, tls=tls)
    count = 0
    try:
        for count, payload in enumerate(payloads, start=1):
            producer.send(payload, first_seq + count - 1)
    finally:
        producer.close()
    return count
