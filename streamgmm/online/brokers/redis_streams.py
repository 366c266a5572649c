"""Redis Streams as a stream source (redis-py; ``pip install 'streamgmm[redis]'``).

Each stream entry carries one message in its field ``data`` (see
:mod:`streamgmm.online.messages`); producers add entries with
``XADD <stream> * data <payload>``. An entry without that field is a dead letter.

Position: ``{"last_id": "<ms>-<seq>"}``, the id of the last entry consumed; the
next batch is read with ``XREAD`` after it (exclusive), in id order, so the
batches are a function of the position alone and a restarted runner repeats
exactly the uncommitted batch.

Acknowledgement: with ``source.group``, the group's last-delivered id is moved
to each committed position (``XGROUP SETID``), after the commit, so monitoring
tools see the stream's lag; the runner's state stays the truth (entries are read
by id, never from the group's pending list).

Identity: the stream's name and the id and SHA-256 of the last entry consumed.
A resumed runner refuses a stream that was deleted and recreated (its last
generated id is before the committed one) or whose committed entry now holds
other data.

Dead letters may go to another Redis stream (``source.dead_letter.stream``):
entries with ``data`` (the payload) and the fields of
:func:`~.common.dead_letter_fields` (reason, position, source).
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any, Iterable

from ..sources import Batch, SourceMismatchError
from .common import (
    BrokerSource,
    Message,
    connect_at_start,
    credentials,
    dead_letter_fields,
    dead_letter_sink,
    require_client,
    shared_options,
)

try:  # an optional extra: the error naming it comes when a source is built
    import redis as redis_client
except ImportError:  # pragma: no cover - exercised only without the extra
    redis_client = None

__all__ = ["PAYLOAD_FIELD", "RedisStreamSource", "RedisStreamDeadLetters", "build", "entry_id_key", "produce"]

logger = logging.getLogger("streamgmm.online")

#: The entry field holding the message.
PAYLOAD_FIELD = b"data"
#: Entries read per XREAD.
FETCH_COUNT = 500


def entry_id_key(entry_id: str) -> tuple[int, int]:
    """``"<ms>-<seq>"`` as a sortable pair."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def _client_errors() -> tuple[type[BaseException], ...]:
    if redis_client is None:
        return (ConnectionError, TimeoutError)
    return (redis_client.exceptions.ConnectionError, redis_client.exceptions.TimeoutError)


def _open(url: str, username: str | None, password: str | None, tls: Any) -> Any:
    client = require_client(redis_client, "redis", "redis", "redis-py")
    options: dict[str, Any] = {"socket_connect_timeout": 2.0, "socket_timeout": 10.0}
    if username is not None:
        options["username"] = username
    if password is not None:
        options["password"] = password
    if tls is not None:
        options.update(
            ssl=True, ssl_ca_certs=tls.ca_file, ssl_certfile=tls.cert_file, ssl_keyfile=tls.key_file,
            ssl_cert_reqs="required" if tls.verify else "none",
        )
    return client.Redis.from_url(url, **options)


class RedisStreamDeadLetters:
    """Dead letters as entries of a Redis stream (de-duplicate by ``streamgmm-position``)."""

    def __init__(self, client: Any, stream: str, source: dict[str, Any]) -> None:
        self.client = client
        self.stream = stream
        self.source = source

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        fields: dict[Any, Any] = {PAYLOAD_FIELD: payload, **dead_letter_fields(reason, position, self.source)}
        self.client.xadd(self.stream, fields)

    def __repr__(self) -> str:
        return f"RedisStreamDeadLetters({self.stream!r})"


class RedisStreamSource(BrokerSource):
    """Entries of one Redis stream, in id order, as batches of rows.

    Parameters
    ----------
    url : str
        ``redis://host:port/db`` (``rediss://`` for TLS).
    stream : str
        The stream's key.
    group : str, optional
        Consumer group whose last-delivered id follows the committed position.
    username, password : str, optional
        Resolved secrets (the config gives environment variable names).
    tls : BrokerTLS, optional
    wait_for_broker : float, optional
        Seconds to wait for the server at start.
    url_key : str
        The config key of ``url``, for errors.
    **options
        Shared :class:`~.common.BrokerSource` settings (format, dead letters, ...).
    """

    kind = "redis"

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        group: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: Any = None,
        wait_for_broker: float | None = None,
        url_key: str = "source.url",
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.url = url
        self.stream = stream
        self.group = group
        self.client = _open(url, username, password, tls)
        self.transient_errors = _client_errors()
        connect_at_start(self.client.ping, url=url, key=url_key, wait_for_broker=wait_for_broker,
                         errors=self.transient_errors, backoff=self.backoff)
        self._group_ready = False

    def describe(self) -> dict[str, Any]:
        return {"kind": "redis", "url": _without_password(self.url), "stream": self.stream}

    def _reconnect(self) -> None:
        self.client.connection_pool.disconnect()
        self.client.ping()

    def _fetch(self, after: dict[str, Any] | None) -> list[Message]:
        last_id = "0-0" if after is None else str(after["last_id"])
        reply = self.client.xread({self.stream: last_id}, count=FETCH_COUNT)
        if not reply:
            return []
        messages = []
        for raw_id, fields in reply[0][1]:
            entry_id = raw_id.decode() if isinstance(raw_id, bytes) else str(raw_id)
            payload = fields.get(PAYLOAD_FIELD)
            problem = None
            if payload is None:
                names = sorted(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in fields)
                problem = f"has no field {PAYLOAD_FIELD.decode()!r} (its fields: {names})"
                payload = b""
            messages.append(Message(payload, {"last_id": entry_id}, {"stream": self.stream, "id": entry_id}, problem))
        return messages

    # ------------------------------------------------------------------ acknowledge
    def acknowledge(self, position: dict[str, Any]) -> None:
        """Move the consumer group's last-delivered id to the committed entry (monitoring only)."""
        if self.group is None:
            return
        last_id = str(position["last_id"])
        try:
            if not self._group_ready:
                try:
                    self.client.xgroup_create(self.stream, self.group, id=last_id, mkstream=False)
                except redis_client.exceptions.ResponseError as exc:
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._group_ready = True
            self.client.xgroup_setid(self.stream, self.group, last_id)
        except self.transient_errors as exc:  # the next commit moves it again
            logger.warning("could not move group %s of %s to %s (%s)", self.group, self.stream, last_id, exc)

    def close(self) -> None:
        self.client.close()

    # --------------------------------------------------------------------- identity
    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The stream, and the id and SHA-256 of the last entry consumed."""
        message = self.last_message
        digest = None if message is None else hashlib.sha256(message.payload).hexdigest()
        return {"kind": "redis", "stream": self.stream, "last_id": batch.position["last_id"], "sha256": digest}

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse a recreated stream, or one whose committed entry changed.

        Raises
        ------
        SourceMismatchError
        """
        if position is None or recorded.get("last_id") is None:
            return
        last_id = str(recorded["last_id"])
        current: dict[str, Any] = {"stream": self.stream}
        problem = None
        try:
            info = self.client.xinfo_stream(self.stream)
        except redis_client.exceptions.ResponseError:
            info = None
        if info is None:
            problem = "the stream does not exist any more"
        else:
            generated = info.get("last-generated-id", info.get(b"last-generated-id"))
            generated = generated.decode() if isinstance(generated, bytes) else str(generated)
            current["last_generated_id"] = generated
            if entry_id_key(generated) < entry_id_key(last_id):
                problem = f"its last generated id {generated} is before the committed {last_id} (recreated)"
            else:
                entries = self.client.xrange(self.stream, min=last_id, max=last_id, count=1)
                if entries and recorded.get("sha256"):
                    payload = entries[0][1].get(PAYLOAD_FIELD, b"")
                    current["sha256"] = hashlib.sha256(payload).hexdigest()
                    if current["sha256"] != recorded["sha256"]:
                        problem = f"its entry {last_id} holds other data than the one consumed"
                elif not entries:
                    problem = self._gone(info, last_id)
        if problem is not None:
            raise SourceMismatchError(
                f"Redis stream {self.stream!r} at {_without_password(self.url)} is not the stream's "
                f"source any more: {problem}. Committed: {recorded}; now: {current}.",
                recorded, current,
            )


    @staticmethod
    def _gone(info: dict[Any, Any], last_id: str) -> str | None:
        """Why a missing committed entry means another stream (None: trimmed, the same stream).

        Redis 7 reports the largest id ever deleted from the stream: the committed
        entry was trimmed or deleted there if that id reaches it, else the stream
        was recreated. Older servers cannot tell the two apart: the stream is
        accepted with a warning.
        """
        deleted = info.get("max-deleted-entry-id", info.get(b"max-deleted-entry-id"))
        if deleted is None:
            logger.warning(
                "the committed entry %s is not in the stream any more (trimmed, or the stream was "
                "recreated: this Redis server cannot tell); resuming after it", last_id,
            )
            return None
        deleted = deleted.decode() if isinstance(deleted, bytes) else str(deleted)
        if entry_id_key(deleted) >= entry_id_key(last_id):
            return None
        return f"its entry {last_id}, the last one consumed, is gone and was never deleted from it (recreated)"


def _without_password(url: str) -> str:
    """``url`` with any ``user:password@`` removed (for describe and messages)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    return f"{scheme}://{rest.rsplit('@', 1)[-1]}"


def build(config: Any, state_dir: str) -> RedisStreamSource:
    """The source of a validated ``source`` section of kind ``redis``."""
    secrets = credentials(config)
    source = RedisStreamSource(
        config.url, config.stream, group=config.group, username=secrets["username"],
        password=secrets["password"], tls=config.tls, wait_for_broker=config.wait_for_broker,
        **shared_options(config),
    )
    source.dead_letters = dead_letter_sink(
        config, state_dir, source, lambda stream: RedisStreamDeadLetters(source.client, stream, source.describe())
    )
    return source


def produce(url: str, stream: str, payloads: Iterable[bytes], *, username: str | None = None,
            password: str | None = None, tls: Any = None) -> int:
    """Append each payload as one entry (field ``data``) of ``stream``; the number appended.

    For replays, tests and benchmarks: each XADD returns once Redis has the entry.
    """
    client = _open(url, username, password, tls)
    count = 0
    try:
        for payload in payloads:
            client.xadd(stream, {PAYLOAD_FIELD: payload})
            count += 1
    finally:
        client.close()
    return count
