"""Optional live view: a Foxglove WebSocket server fed with the same raw messages as the bag.

Foxglove (app or ``foxglove studio``) connects to ``ws://127.0.0.1:<port>`` and decodes the
messages itself: every channel carries the ROS 2 type's ``ros2msg`` definition (as in the MCAP
files) and CDR payloads. Needs the optional ``foxglove-sdk`` package; without it
:class:`LiveView` raises :class:`LiveViewUnavailable` saying how to install it.
"""

from __future__ import annotations

import threading
from typing import Any

from roadedge.bag.errors import BagError
from roadedge.bag.msgdefs import MessageDefinitions, normalize_type

FOXGLOVE_PIN = "foxglove-sdk==0.30.3"


class LiveViewUnavailable(BagError):
    """The foxglove-sdk package is not installed."""


def foxglove_module() -> Any:
    try:
        import foxglove
    except ImportError as err:
        raise LiveViewUnavailable(
            f"the live view needs the optional foxglove-sdk package: pip install {FOXGLOVE_PIN}"
        ) from err
    return foxglove


class LiveView:
    """A Foxglove WebSocket server on localhost; :meth:`log` forwards serialized messages."""

    def __init__(
        self,
        port: int = 8765,
        host: str = "127.0.0.1",
        name: str = "roadedge",
        definitions: MessageDefinitions | None = None,
    ) -> None:
        fox = foxglove_module()
        self._fox = fox
        self.definitions = definitions or MessageDefinitions()
        self._context = fox.Context()
        try:
            self._server = fox.start_server(name=name, host=host, port=port, context=self._context)
        except Exception as err:
            raise BagError(f"cannot start the live view on {host}:{port}: {err}") from err
        self._channels: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.dropped = 0
        self.logged = 0

    @property
    def port(self) -> int:
        return int(self._server.port)

    def add_topic(self, topic: str, msgtype: str) -> None:
        msgtype = normalize_type(msgtype)
        with self._lock:
            if topic in self._channels:
                return
            text, _digest = self.definitions.definition(msgtype)
            schema = self._fox.Schema(name=msgtype, encoding="ros2msg", data=text.encode())
            self._channels[topic] = self._fox.Channel(
                topic, schema=schema, message_encoding="cdr", context=self._context
            )

    def log(self, topic: str, timestamp_ns: int, data: bytes | memoryview) -> None:
        channel = self._channels.get(topic)
        if channel is None:
            self.dropped += 1
            return
        channel.log(bytes(data), log_time=int(timestamp_ns))
        self.logged += 1

    def close(self) -> None:
        self._server.stop()
