"""Kafka topics as a stream source (confluent-kafka; ``pip install 'streamgmm[kafka]'``).

Each record's value is one message (see :mod:`streamgmm.online.messages`); keys
and headers are ignored. A record without a value is a dead letter.

Position: ``{"offsets": {"<partition>": next_offset, ...}, "turn": i}``. The
partitions are merged **round-robin by partition number, one record at a time**:
from a position, the record at ``offsets[p]`` of the partition whose turn it is,
then the next partition's, and so on. The order is thus fixed by the offsets
alone, never by arrival times, and a restarted runner rebuilds exactly the same
batches. (``turn`` is the index, in the sorted partition list, of the partition
read next: the offsets alone would not say where a round stopped.) The price of
that determinism: when the partition whose turn it is has no record yet, the
stream waits for it, so producers should feed every partition read (e.g. the
default partitioner with varied keys, or round-robin); ``source.partitions``
restricts the stream to some partitions.

Offsets are never taken from the broker: the runner's state holds them. With
``source.group``, the committed position is also committed to the group
(asynchronously, after the runner's commit) so lag monitors see the stream.

Identity: the topic, its partitions, and the partition, offset and SHA-256 of the
last record consumed. A resumed runner refuses a topic whose partitions changed,
whose records the stream still needed were deleted (offsets below the start), or
whose last consumed record cannot be read any more (deleted and recreated,
truncated) or now holds other data.

Dead letters may go to another topic (``source.dead_letter.topic``), with the
reason, position and source as record headers (:func:`~.common.dead_letter_fields`).
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from typing import Any, Iterable, Sequence

from ..sources import Batch, SourceError, SourceMismatchError
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
    import confluent_kafka
    from confluent_kafka.admin import AdminClient, NewTopic
except ImportError:  # pragma: no cover - exercised only without the extra
    confluent_kafka = None

__all__ = ["KafkaSource", "KafkaDeadLetters", "build", "client_options", "create_topic", "produce"]

logger = logging.getLogger("streamgmm.online")
_client_logger = logging.getLogger("streamgmm.online.kafka.client")

#: Records asked of the client per call, and how long a call may wait for them (s).
CONSUME_COUNT = 1000
CONSUME_WAIT = 0.1
#: After (re)assigning partitions the client first has to fetch: wait longer for a first record.
FIRST_CONSUME_WAIT = 2.0
#: Messages merged per fetch (the base class asks again for more).
FETCH_MESSAGES = 2000
#: Metadata and watermark requests (s).
METADATA_TIMEOUT = 5.0


def _kafka() -> Any:
    return require_client(confluent_kafka, "kafka", "kafka", "confluent-kafka")


def client_options(
    bootstrap_servers: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls: Any = None,
    client_id: str | None = None,
) -> dict[str, Any]:
    """librdkafka settings for the address, SASL credentials and TLS files."""
    options: dict[str, Any] = {
        "bootstrap.servers": bootstrap_servers,
        "socket.connection.setup.timeout.ms": 3000,
        "logger": _client_logger,  # librdkafka's lines go to logging, not straight to stderr
    }
    if client_id is not None:
        options["client.id"] = client_id
    if username is not None or password is not None:
        options.update({"sasl.mechanisms": "PLAIN", "sasl.username": username or "", "sasl.password": password or ""})
    secure = tls is not None
    if secure:
        options.update({
            "ssl.ca.location": tls.ca_file, "ssl.certificate.location": tls.cert_file,
            "ssl.key.location": tls.key_file, "enable.ssl.certificate.verification": tls.verify,
        })
    if username is not None or password is not None:
        options["security.protocol"] = "SASL_SSL" if secure else "SASL_PLAINTEXT"
    elif secure:
        options["security.protocol"] = "SSL"
    return {key: value for key, value in options.items() if value is not None}


def create_topic(bootstrap_servers: str, topic: str, partitions: int = 1, **options: Any) -> None:
    """Create ``topic`` with ``partitions`` partitions (no error if it exists)."""
    _kafka()
    admin = AdminClient(client_options(bootstrap_servers, **options))
    future = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic]
    try:
        future.result(timeout=METADATA_TIMEOUT * 2)
    except confluent_kafka.KafkaException as exc:
        if exc.args[0].code() != confluent_kafka.KafkaError.TOPIC_ALREADY_EXISTS:
            raise


def produce(
    bootstrap_servers: str, topic: str, payloads: Iterable[bytes], *, partitions: int = 1,
    start: int = 0, **options: Any,
) -> None:
    """Write ``payloads`` to ``topic``: record ``i`` to partition ``(start + i) % partitions``.

    For tests, benchmarks and replays; waits until every record is acknowledged.
    """
    kafka = _kafka()
    producer = kafka.Producer({**client_options(bootstrap_servers, **options), "linger.ms": 5, "acks": "all"})
    failures: list[str] = []

    def delivered(error: Any, _record: Any) -> None:
        if error is not None:
            failures.append(str(error))

    for i, payload in enumerate(payloads):
        while True:
            try:
                producer.produce(topic, payload, partition=(start + i) % partitions, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(60)
    if remaining or failures:
        raise SourceError(f"{remaining} record(s) to topic {topic!r} not delivered: {failures[:3]}")


class KafkaDeadLetters:
    """Dead letters as records of a Kafka topic (de-duplicate by the ``streamgmm-position`` header)."""

    def __init__(self, options: dict[str, Any], topic: str, source: dict[str, Any]) -> None:
        self.producer = _kafka().Producer({**options, "acks": "all"})
        self.topic = topic
        self.source = source

    def send(self, payload: bytes, reason: str, position: dict[str, Any]) -> None:
        headers = [(k, v.encode()) for k, v in dead_letter_fields(reason, position, self.source).items()]
        self.producer.produce(self.topic, payload, headers=headers)
        # Before the runner commits the position that skips it: wait for the broker's ack.
        if self.producer.flush(30):
            raise SourceError(f"dead letter at {position} not delivered to topic {self.topic!r}")

    def __repr__(self) -> str:
        return f"KafkaDeadLetters({self.topic!r})"


class KafkaSource(BrokerSource):
    """Records of one Kafka topic, merged round-robin over partitions, as batches of rows.

    Parameters
    ----------
    bootstrap_servers : str
    topic : str
    partitions : list of int, optional
        Partitions read (default all the topic's, in order).
    group : str, optional
        Consumer group the committed offsets are also reported to (monitoring).
    username, password, tls, client_id : optional
        Resolved SASL credentials, TLS files, client id.
    wait_for_broker : float, optional
    **options
        Shared :class:`~.common.BrokerSource` settings.
    """

    kind = "kafka"

    def __init__(
        self,
        bootstrap_servers: str,
        topic: str,
        *,
        partitions: Sequence[int] | None = None,
        group: str | None = None,
        username: str | None = None,
        password: str | None = None,
        tls: Any = None,
        client_id: str | None = None,
        wait_for_broker: float | None = None,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        kafka = _kafka()
        self.transient_errors = (kafka.KafkaException,)
        self.bootstrap_servers = bootstrap_servers
        self.topic = topic
        self.group = group
        self.options = client_options(bootstrap_servers, username=username, password=password, tls=tls,
                                      client_id=client_id)
        self.consumer = kafka.Consumer({
            **self.options,
            "group.id": group or f"streamgmm-{topic}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 50,
        })
        found = connect_at_start(
            self._topic_partitions, url=bootstrap_servers, key="source.bootstrap_servers",
            wait_for_broker=wait_for_broker, errors=self.transient_errors, backoff=self.backoff,
        )
        if partitions is not None:
            missing = sorted(set(partitions) - set(found))
            if missing:
                raise SourceError(
                    f"source.partitions: topic {topic!r} has no partition(s) {missing} (it has {found})"
                )
        self.partitions = sorted(set(partitions if partitions is not None else found))
        self._queues: dict[int, deque[Any]] = {p: deque() for p in self.partitions}
        self._fetched: dict[int, int] | None = None  # next offset the client delivers, per partition
        self._just_assigned = False
        self._waiting_on: int | None = None  # the partition the merge last waited for (logged once)

    # ------------------------------------------------------------------ plumbing
    def _topic_partitions(self) -> list[int]:
        metadata = self.consumer.list_topics(self.topic, timeout=METADATA_TIMEOUT)
        topic = metadata.topics.get(self.topic)
        if topic is None or topic.error is not None or not topic.partitions:
            if topic is not None and topic.error is not None and topic.error.retriable():
                raise confluent_kafka.KafkaException(topic.error)
            raise SourceError(
                f"source.topic: topic {self.topic!r} does not exist on {self.bootstrap_servers} "
                f"({topic.error if topic is not None else 'not in the metadata'}). Create it, or fix the name."
            )
        return sorted(topic.partitions)

    def _watermarks(self, partition: int) -> tuple[int, int]:
        tp = confluent_kafka.TopicPartition(self.topic, partition)
        low, high = self.consumer.get_watermark_offsets(tp, timeout=METADATA_TIMEOUT, cached=False)
        return int(low), int(high)

    def _start(self, after: dict[str, Any] | None) -> tuple[dict[int, int], int]:
        """The offsets and turn at ``after`` (the partitions' first offsets at the stream's start)."""
        if after is None:
            return {p: self._watermarks(p)[0] for p in self.partitions}, 0
        offsets = {int(p): int(o) for p, o in after["offsets"].items()}
        for p in self.partitions:
            if p not in offsets:
                offsets[p] = self._watermarks(p)[0]
        return offsets, int(after.get("turn", 0))

    def _seek(self, offsets: dict[int, int]) -> None:
        """Make the client deliver each partition from ``offsets`` (forgetting what was queued)."""
        tps = [confluent_kafka.TopicPartition(self.topic, p, offsets[p]) for p in self.partitions]
        self.consumer.assign(tps)
        for queue in self._queues.values():
            queue.clear()
        self._fetched = dict(offsets)
        self._just_assigned = True

    def _pull(self) -> None:
        """Queue what the client has now, per partition, in offset order.

        Takes what the client holds without waiting; only when it holds nothing,
        waits (up to ``CONSUME_WAIT``) for the first record, never for a full count.
        """
        records = self.consumer.consume(CONSUME_COUNT, 0)
        if not records:
            wait = FIRST_CONSUME_WAIT if self._just_assigned else CONSUME_WAIT
            records = self.consumer.consume(1, wait)
            records += self.consumer.consume(CONSUME_COUNT, 0)
        self._just_assigned = False
        for record in records:
            error = record.error()
            if error is not None:
                if error.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                    continue
                if error.retriable() or error.code() == confluent_kafka.KafkaError._TRANSPORT:
                    raise confluent_kafka.KafkaException(error)
                raise SourceError(f"reading topic {self.topic!r}: {error}")
            partition, offset = record.partition(), record.offset()
            if partition not in self._queues or offset < self._fetched[partition]:
                continue  # a record delivered twice by a retry: already queued
            self._queues[partition].append(record)
            self._fetched[partition] = offset + 1

    def _reconnect(self) -> None:
        self._fetched = None  # assign again from the position being read
        self._topic_partitions()

    # ------------------------------------------------------------------ reading
    def _fetch(self, after: dict[str, Any] | None) -> list[Message]:
        offsets, turn = self._start(after)
        heads = {p: (q[0].offset() if q else self._fetched[p]) for p, q in self._queues.items()} if self._fetched else None
        if heads != offsets:
            self._seek(offsets)
        messages: list[Message] = []
        count = len(self.partitions)
        pulled = False
        while len(messages) < FETCH_MESSAGES:
            partition = self.partitions[turn]
            queue = self._queues[partition]
            if not queue:
                if pulled:  # the partition in turn has nothing now: the merge waits for it
                    others = sum(len(q) for q in self._queues.values())
                    if others and self._waiting_on != partition:
                        logger.info(
                            "topic %s: waiting for partition %d (its turn in the round-robin merge) while "
                            "%d record(s) of other partitions wait; a partition never written holds the "
                            "stream (list those read in source.partitions)", self.topic, partition, others,
                        )
                    self._waiting_on = partition
                    break
                self._pull()
                pulled = True
                continue
            pulled = False
            record = queue.popleft()
            offset = record.offset()
            offsets[partition] = offset + 1
            turn = (turn + 1) % count
            value = record.value()
            messages.append(Message(
                b"" if value is None else value,
                {"offsets": {str(p): o for p, o in offsets.items()}, "turn": turn},
                {"partition": partition, "offset": offset},
                "has no value (a tombstone)" if value is None else None,
            ))
        return messages

    def describe(self) -> dict[str, Any]:
        return {"kind": "kafka", "bootstrap_servers": self.bootstrap_servers, "topic": self.topic}

    def acknowledge(self, position: dict[str, Any]) -> None:
        """Report the committed offsets to the consumer group (monitoring only, asynchronous)."""
        if self.group is None:
            return
        tps = [confluent_kafka.TopicPartition(self.topic, int(p), int(o)) for p, o in position["offsets"].items()]
        try:
            self.consumer.commit(offsets=tps, asynchronous=True)
        except confluent_kafka.KafkaException as exc:  # the next commit reports them again
            logger.warning("could not report offsets of %s to group %s (%s)", self.topic, self.group, exc)

    def close(self) -> None:
        self.consumer.close()

    # ----------------------------------------------------------------- identity
    def identity(self, batch: Batch, previous: dict[str, Any] | None) -> dict[str, Any]:
        """The topic, its partitions, and the last record consumed (partition, offset, SHA-256)."""
        message = self.last_message
        last = None if message is None else {**message.address, "sha256": hashlib.sha256(message.payload).hexdigest()}
        return {"kind": "kafka", "topic": self.topic, "partitions": list(self.partitions), "last": last}

    def verify_identity(self, recorded: dict[str, Any], position: dict[str, Any] | None) -> None:
        """Refuse a topic that is not the one consumed up to ``position``.

        Raises
        ------
        SourceMismatchError
        """
        if position is None:
            return
        current: dict[str, Any] = {"topic": self.topic, "partitions": list(self.partitions)}
        problem = None
        if recorded.get("partitions") is not None and list(recorded["partitions"]) != list(self.partitions):
            problem = (
                f"it is read on partitions {self.partitions}, the stream on {recorded['partitions']} "
                "(partitions were added or source.partitions changed; set source.partitions to the "
                "stream's to keep its order)"
            )
        if problem is None:
            for p, offset in sorted((int(p), int(o)) for p, o in position["offsets"].items()):
                low, _ = self._watermarks(p)
                current.setdefault("first_offsets", {})[str(p)] = low
                if low > offset:
                    problem = (
                        f"partition {p} now starts at offset {low}, after the committed {offset}: records "
                        "the stream has not read were deleted (retention)"
                    )
                    break
        last = recorded.get("last")
        if problem is None and last:
            # The last record consumed, read again: gone or changed means another topic.
            # (High watermarks are not used: some Kafka-compatible brokers under-report them.)
            digest = self._digest_at(int(last["partition"]), int(last["offset"]))
            current["last"] = {**last, "sha256": digest}
            if digest is None:
                problem = (
                    f"its record at partition {last['partition']} offset {last['offset']}, the last one "
                    "consumed, cannot be read (the topic was deleted and recreated, or truncated)"
                )
            elif digest != last["sha256"]:
                problem = f"its record at partition {last['partition']} offset {last['offset']} holds other data"
        if problem is not None:
            raise SourceMismatchError(
                f"Kafka topic {self.topic!r} on {self.bootstrap_servers} is not the stream's source any "
                f"more: {problem}. Committed: {recorded}; now: {current}.",
                recorded, current,
            )

    def _digest_at(self, partition: int, offset: int) -> str | None:
        """SHA-256 of the record at ``offset`` of ``partition`` (None if it cannot be read now)."""
        self.consumer.assign([confluent_kafka.TopicPartition(self.topic, partition, offset)])
        self._fetched = None
        for _ in range(20):
            for record in self.consumer.consume(1, 0.5):
                if record.error() is None and record.offset() == offset:
                    return hashlib.sha256(record.value() or b"").hexdigest()
        return None


def build(config: Any, state_dir: str) -> KafkaSource:
    """The source of a validated ``source`` section of kind ``kafka``."""
    secrets = credentials(config)
    source = KafkaSource(
        config.bootstrap_servers, config.topic, partitions=config.partitions, group=config.group,
        username=secrets["username"], password=secrets["password"], tls=config.tls,
        client_id=config.client_id, wait_for_broker=config.wait_for_broker, **shared_options(config),
    )
    source.dead_letters = dead_letter_sink(
        config, state_dir, source, lambda topic: KafkaDeadLetters(source.options, topic, source.describe())
    )
    return source
