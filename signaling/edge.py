"""The WebSocket edge: FastAPI route `/ws/{room_id}` adapting Starlette's WebSocket to the hub."""

from __future__ import annotations

import re

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect, WebSocketState
from uvicorn.protocols.utils import ClientDisconnected

from signaling.closecodes import CloseCode
from signaling.hub import ConnectionClosed, SignalingHub

ROOM_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


class StarletteConnection:
    def __init__(self, ws: WebSocket) -> None:
        self._ws = ws

    async def receive(self) -> str | bytes:
        try:
            msg = await self._ws.receive()
        except (WebSocketDisconnect, RuntimeError) as exc:
            raise ConnectionClosed() from exc
        if msg["type"] == "websocket.disconnect":
            raise ConnectionClosed()
        text = msg.get("text")
        if text is not None:
            return str(text)
        return bytes(msg.get("bytes") or b"")

    async def send(self, text: str) -> None:
        if self._ws.application_state != WebSocketState.CONNECTED:
            raise ConnectionClosed()
        try:
            await self._ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError, OSError, ClientDisconnected) as exc:
            raise ConnectionClosed() from exc

    async def close(self, code: int, reason: str) -> None:
        if self._ws.application_state == WebSocketState.DISCONNECTED:
            return
        try:
            await self._ws.close(code, reason)
        except (WebSocketDisconnect, RuntimeError, OSError):
            pass  # the peer is already gone: nothing left to tell it


def signaling_router(hub: SignalingHub) -> APIRouter:
    router = APIRouter()

    @router.websocket("/ws/{room_id}")
    async def signaling_ws(websocket: WebSocket, room_id: str) -> None:
        await websocket.accept()
        conn = StarletteConnection(websocket)
        if not ROOM_ID_RE.match(room_id):
            await conn.close(CloseCode.WRONG_ROOM, "no such hearing room")
            return
        await hub.serve(conn, room_id)

    return router
