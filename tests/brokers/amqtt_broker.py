"""An amqtt MQTT 3.1.1 broker on 127.0.0.1, run as its own process by the broker fixtures.

    python amqtt_broker.py PORT SESSION_DB

Sessions of clients that connect with a username and ``clean_session`` false (their
subscriptions, and the QoS 1 messages queued for them while they are away) are kept in
the SQLite file SESSION_DB by amqtt's ``SessionDBPlugin``, so they survive a restart of
this process on the same port, also a SIGKILL. Anonymous clients are refused: amqtt
keeps no offline messages for anonymous sessions. Messages delivered to a client but not
yet acknowledged are NOT in that file (amqtt keeps them in memory only).
"""

from __future__ import annotations

import asyncio
import logging
import sys

from amqtt.broker import Broker


def config(port: int, session_db: str) -> dict:
    """The broker's configuration: one TCP listener, username required, persistent sessions."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {
            "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": False},
            "amqtt.contrib.persistence.SessionDBPlugin": {
                "connection": f"sqlite+aiosqlite:///{session_db}", "clear_on_shutdown": False,
            },
        },
    }


async def serve(port: int, session_db: str) -> None:
    broker = Broker(config(port, session_db))
    await broker.start()
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(int(sys.argv[1]), sys.argv[2]))
