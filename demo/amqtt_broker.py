"""The pure-Python fallback broker (amqtt, MQTT 3.1.1 only), run as `python -m demo.amqtt_broker PORT`."""
from __future__ import annotations

import asyncio
import logging
import signal
import sys


from dataclasses import dataclass

from amqtt.plugins.base import BaseAuthPlugin


class LoopbackAuthPlugin(BaseAuthPlugin):
    """Admits every client of the loopback listener as a known (non-anonymous) one.

    amqtt drops QoS 1 messages queued for an offline persistent session when the client logged in
    anonymously; telecare needs them kept, and only local processes can reach this listener.
    """

    @dataclass
    class Config:
        """No options."""

    async def authenticate(self, *, session) -> bool:  # noqa: ANN001 - amqtt's Session
        """Accept the client without marking it anonymous."""
        session.is_anonymous = False
        return True


def config(port: int) -> dict:
    """amqtt settings: loopback only, local clients trusted, no $SYS chatter."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"demo.amqtt_broker.LoopbackAuthPlugin": {}},
    }


async def serve(port: int) -> None:
    """Run the broker until SIGTERM/SIGINT."""
    from amqtt.broker import Broker

    broker = Broker(config(port))
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.shutdown()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(int(sys.argv[1])))
