"""Stream sources reading message brokers: one module per broker, one table to build them.

- :mod:`.common`: what every broker source shares (messages to batches, dead
  letters, reconnects, credentials from environment variables).
- one module per broker, the only place its client library is imported (each
  client is an optional extra: ``pip install 'streamgmm[kafka]'``, ``[redis]``,
  ``[nats]``, ``[mqtt]``); a missing client is a clear error naming the extra.

:data:`SOURCE_BUILDERS` maps ``source.kind`` to the function that builds the
source from the validated ``source`` section and the stream's state folder
(``builder(source_config, state_dir) -> StreamSource``). Adding a broker is one
module and one row of the table.
"""

from __future__ import annotations

from typing import Any, Callable

from ...config.online import BROKER_KINDS, StreamSourceConfig
from ..sources import StreamSource
from . import kafka, mqtt, nats_jetstream, redis_streams

__all__ = ["SOURCE_BUILDERS", "build_broker_source"]

SourceBuilder = Callable[[StreamSourceConfig, str], StreamSource]

#: ``source.kind`` -> builder of the broker source.
SOURCE_BUILDERS: dict[str, SourceBuilder] = {
    "kafka": kafka.build,
    "redis": redis_streams.build,
    "nats": nats_jetstream.build,
    "mqtt": mqtt.build,
}


def build_broker_source(config: StreamSourceConfig, state_dir: str) -> Any:
    """The broker source ``config`` describes (``config.kind`` is one of the broker kinds).

    Parameters
    ----------
    config : StreamSourceConfig
        The validated ``source`` section.
    state_dir : str
        The stream's state folder (default home of its dead letters).
    """
    builder = SOURCE_BUILDERS.get(config.kind)
    if builder is None:
        available = ", ".join(sorted(SOURCE_BUILDERS)) or "none"
        raise ValueError(
            f"source.kind {config.kind!r} is not available in this streamgmm (broker sources: "
            f"{available}; known kinds: {', '.join(BROKER_KINDS)})"
        )
    return builder(config, state_dir)
