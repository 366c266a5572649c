"""An amqtt MQTT 3.1.1 broker on 127.0.0.1, run as its own process by the broker fixtures.

    python amqtt_broker.py PORT [SESSION_DB]

With SESSION_DB, sessions of clients that connect with a username and ``clean_session``
false (their subscriptions, and the QoS 1 messages queued for them while they are away)
are kept in that SQLite file by amqtt's ``SessionDBPlugin``, so they survive a restart of
this process on the same port, also a SIGKILL. The plugin stores queued messages as
text: binary payloads fail to be stored (logged, with the payload) and stay in memory
only, and the logging slows the broker down; without SESSION_DB sessions live in
memory (the benchmark's choice). Anonymous clients are refused: amqtt
keeps no offline messages for anonymous sessions. Messages delivered to a client but not
yet acknowledged are NOT in that file (amqtt keeps them in memory only).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from amqtt.broker import Broker


def config(port: int, session_db: str | None) -> dict:
    """The broker's configuration: one TCP listener, username required, sessions kept in ``session_db``."""
    plugins: dict = {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False}}
    if session_db is not None:
        plugins["amqtt.contrib.persistence.SessionDBPlugin"] = {
            "connection": f"sqlite+aiosqlite:///{session_db}", "clear_on_shutdown": False,
        }
    return {"listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}}, "plugins": plugins}


async def serve(port: int, session_db: str | None) -> None:
    broker = Broker(config(port, session_db))
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None))
