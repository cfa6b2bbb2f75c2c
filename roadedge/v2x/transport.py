"""UDP link to the C-V2X radio: the PC5 module forwards application payloads over UDP.

One datagram is one frame (a SecuredFrame envelope). The node binds ``bind_host:bind_port``
and sends to the radio at ``radio_host:radio_port``; on the HIL rig the radio is
``hil/radio_emulator.py`` on loopback.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import threading
from collections.abc import Callable

#: Largest UDP payload read; anything longer than the codec accepts is counted as oversized later.
RECV_BUFFER = 65535


class RadioLink:
    """A UDP socket to one radio, with an optional receive thread calling ``on_frame(data)``."""

    def __init__(self, bind_host: str, bind_port: int, radio_host: str, radio_port: int) -> None:
        self.radio = (radio_host, radio_port)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
        self.sock.bind((bind_host, bind_port))
        self.sock.setblocking(False)
        self.sent = 0
        self.send_errors = 0
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()

    @property
    def local_address(self) -> tuple[str, int]:
        host, port = self.sock.getsockname()[:2]
        return str(host), int(port)

    def send(self, frame: bytes) -> bool:
        try:
            self.sock.sendto(frame, self.radio)
        except OSError:
            self.send_errors += 1
            return False
        self.sent += 1
        return True

    def receive(self, max_frames: int = 1000) -> list[bytes]:
        """Frames waiting now (non-blocking)."""
        out: list[bytes] = []
        while len(out) < max_frames:
            try:
                data = self.sock.recv(RECV_BUFFER)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:  # e.g. ICMP port unreachable reported on a later call
                continue
            out.append(data)
        return out

    def start(self, on_frame: Callable[[bytes], None]) -> None:
        """Receive in a background thread; ``on_frame`` must not raise (exceptions are swallowed)."""

        def each(frames: list[bytes]) -> None:
            for frame in frames:
                with contextlib.suppress(Exception):
                    on_frame(frame)

        self.start_bursts(each)

    def start_bursts(self, on_burst: Callable[[list[bytes]], None], burst_max: int = 1000) -> None:
        """Receive in a background thread, burst by burst: each wake-up drains the socket, handing
        ``on_burst`` the frames waiting (at most ``burst_max`` at a time) until it is empty. A node
        processes a burst staged and publishes its BSMs as one message. Exceptions are swallowed."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(on_burst, max(1, burst_max)), name="v2x-radio-rx", daemon=True
        )
        self._thread.start()

    def _run(self, on_burst: Callable[[list[bytes]], None], burst_max: int) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.sock, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                sel.select(timeout=0.5)
                while not self._stop.is_set():
                    frames = self.receive(burst_max)
                    if not frames:
                        break
                    with contextlib.suppress(Exception):
                        on_burst(frames)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        with contextlib.suppress(OSError):
            self._wake_w.send(b"x")
        self._thread.join(timeout=2.0)
        self._thread = None

    def close(self) -> None:
        self.stop()
        for s in (self.sock, self._wake_r, self._wake_w):
            s.close()
