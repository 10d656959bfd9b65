"""The local server's connections have Nagle's algorithm off (issue 9, load test).

Before, ``pushpool server`` answered every request 40 ms late: its
listening socket had ``proto`` 0, so asyncio left ``TCP_NODELAY`` off on the
connections it accepted, and the body of each answer waited for the
client's delayed ACK of the headers.
"""

from __future__ import annotations

import asyncio
import socket

import pytest

from handlers.local.server import bind


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_connections_accepted_by_the_server_socket_send_without_delay(host: str) -> None:
    try:
        listener = bind(host, 0)
    except OSError:
        pytest.skip(f"{host} is not available here")
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted = transport.get_extra_info("socket")
            seen.append(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def accept_one() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(Probe, sock=listener)  # as uvicorn serves it
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection(host, port)
        for _ in range(100):
            if seen:
                break
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        await server.wait_closed()

    asyncio.run(accept_one())
    assert seen == [1]
