"""A TCP proxy on loopback that can cut every connection through it (a village 4G drop)."""

from __future__ import annotations

import asyncio
import contextlib


async def splice(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 up_reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
    """Copy bytes both ways until either side closes, then abort both."""

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            while data := await src.read(65536):
                dst.write(data)
                await dst.drain()
        dst.transport.abort()

    await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


class FlakyProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.cuts = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers |= {writer, up_writer}
        await splice(reader, writer, up_reader, up_writer)
        self._writers -= {writer, up_writer}

    def cut(self) -> None:
        """Abort every open connection in both directions, without a close handshake."""
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()
        self.cuts += 1

    async def close(self) -> None:
        self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


class FailoverBalancer:
    """A TCP load balancer on loopback: each new connection goes to the first backend that
    accepts it, in order (like nginx with ``backup`` upstreams). A killed node's clients
    reconnect through it and land on the next live node."""

    def __init__(self, backend_ports: list[int]) -> None:
        self.backend_ports = backend_ports
        self.port = 0
        self.routed: list[int] = []
        self.accepting = asyncio.Event()  # cleared: new connections wait (a failover in progress)
        self.accepting.set()
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await self.accepting.wait()
        for port in self.backend_ports:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.routed.append(port)
            break
        else:
            writer.transport.abort()
            return
        await splice(reader, writer, up_reader, up_writer)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

