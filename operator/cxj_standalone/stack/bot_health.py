"""The simulated virtual agent's gRPC health endpoint: grpc.health.v1 reporting the bot SERVING."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio

BOT_SERVICE = "cx.bot.v1.Bot"


class BotHealthServer:
    """A grpc.aio server with the standard health service, the bot and the server SERVING."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._server: grpc.aio.Server | None = None
        self._health = health_aio.HealthServicer()

    async def start(self) -> None:
        """Binds and starts serving.

        Raises:
            OSError: when the address cannot be bound.
        """
        server = grpc.aio.server()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        await self.set_serving(True)
        address = f"{self.host}:{self.port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as error:  # grpc reports a failed bind this way
            raise OSError(f"bot health: cannot listen on {address}: {error}") from error
        if bound == 0:
            raise OSError(f"bot health: cannot listen on {address}; free the port or pick another")
        self.port = bound
        await server.start()
        self._server = server

    async def set_serving(self, serving: bool) -> None:
        """Reports the bot (and the server as a whole) SERVING or NOT_SERVING."""
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        for service in ("", BOT_SERVICE):
            await self._health.set(service, status)

    async def stop(self) -> None:
        """Stops serving; calls in flight get half a second to finish."""
        if self._server is not None:
            await self._server.stop(0.5)
            self._server = None
