"""GNSS receiver link: serial port (pyserial: device, pty or URL) or NMEA log replay -> fixes.

No ROS here: ``nodes/gnss_receiver.py`` polls :class:`GnssReceiver` from a timer and
publishes what it returns. The serial link reopens itself after an unplug (every
``reconnect_period``), flushing what piled up in the input buffer; RTCM 3 corrections are
framed and CRC-checked before they are written to the receiver.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import serial

from roadedge.localization.gnss import GnssFix, NmeaStreamParser, Rtcm3Framer, log_epochs


@dataclass
class LinkCounters:
    opens: int = 0
    open_failures: int = 0
    disconnects: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    write_failures: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class SerialLink:
    """A pyserial port that never raises: failures close it and it reopens later."""

    def __init__(self, url: str, baudrate: int = 115200, reconnect_period: float = 1.0):
        self.url = url
        self.baudrate = baudrate
        self.reconnect_period = reconnect_period
        self.counters = LinkCounters()
        self.last_error = ""
        self._port: Any = None
        self._next_attempt = -1e18

    @property
    def connected(self) -> bool:
        return self._port is not None

    def ensure_open(self, now: float) -> bool:
        if self._port is not None:
            return True
        if now < self._next_attempt:
            return False
        self._next_attempt = now + self.reconnect_period
        try:
            port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0, write_timeout=0)
            with contextlib.suppress(serial.SerialException, OSError, AttributeError):
                port.reset_input_buffer()  # stale bytes from before the (re)connection
        except (serial.SerialException, OSError, ValueError) as exc:
            self.counters.open_failures += 1
            self.last_error = f"open {self.url}: {exc}"[:200]
            return False
        self._port = port
        self.counters.opens += 1
        return True

    def read(self, now: float) -> bytes:
        if not self.ensure_open(now):
            return b""
        try:
            waiting = self._port.in_waiting
            data: bytes = self._port.read(max(1, min(waiting, 65536)))
        except (serial.SerialException, OSError, TypeError) as exc:
            self._drop(now, f"read: {exc}")
            return b""
        self.counters.bytes_read += len(data)
        return data

    def write(self, data: bytes, now: float) -> bool:
        if not self.ensure_open(now):
            self.counters.write_failures += 1
            return False
        try:
            written = self._port.write(data)
        except serial.SerialTimeoutException:
            self.counters.write_failures += 1  # receiver not draining: drop, keep the link
            return False
        except (serial.SerialException, OSError) as exc:
            self.counters.write_failures += 1
            self._drop(now, f"write: {exc}")
            return False
        self.counters.bytes_written += int(written or 0)
        return True

    def _drop(self, now: float, reason: str) -> None:
        self.last_error = reason[:200]
        self.counters.disconnects += 1
        self.close()
        self._next_attempt = now + self.reconnect_period

    def close(self) -> None:
        port, self._port = self._port, None
        if port is not None:
            with contextlib.suppress(Exception):
                port.close()


class ReplaySource:
    """An NMEA log file played back epoch by epoch at ``rate`` times real time."""

    def __init__(self, path: str | Path, rate: float = 1.0, loop: bool = False):
        self.path = Path(path)
        self.epochs = log_epochs(self.path.read_bytes())
        self.rate = rate
        self.loop = loop
        self._start: float | None = None
        self._index = 0
        self._offset = 0.0
        self.loops = 0

    @property
    def started(self) -> bool:
        return self._start is not None

    @property
    def finished(self) -> bool:
        return not self.loop and self._index >= len(self.epochs)

    def due(self, now: float) -> list[bytes]:
        if self._start is None:
            self._start = now
        elapsed = (now - self._start) * self.rate
        out: list[bytes] = []
        while self.epochs:
            if self._index >= len(self.epochs):
                if not self.loop:
                    break
                self._offset += self.epochs[-1][0] + 0.1
                self._index = 0
                self.loops += 1
            t, chunk = self.epochs[self._index]
            if t + self._offset > elapsed:
                break
            out.append(chunk)
            self._index += 1
        return out


class RtcmFile:
    """Corrections from a file or FIFO (e.g. written by an NTRIP client), read without blocking."""

    def __init__(self, path: str | Path, chunk: int = 1024):
        self.path = Path(path)
        self.chunk = chunk
        self._fd: int | None = None
        self.last_error = ""

    def read(self) -> bytes:
        if self._fd is None:
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
            except OSError as exc:
                self.last_error = f"open {self.path}: {exc}"[:200]
                return b""
        try:
            data = os.read(self._fd, self.chunk)
        except BlockingIOError:
            return b""
        except OSError as exc:
            self.last_error = f"read {self.path}: {exc}"[:200]
            self.close()
            return b""
        # EOF: a FIFO without a writer (yet) or the end of a file that may still grow; keep reading.
        return data

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


class GnssReceiver:
    """Serial link or log replay -> NMEA parser -> fixes; RTCM in -> framed -> receiver."""

    def __init__(
        self,
        port: str = "",
        baudrate: int = 115200,
        replay_file: str = "",
        replay_rate: float = 1.0,
        replay_loop: bool = False,
        reconnect_period: float = 1.0,
        quiet_flush: float = 0.03,
        require_checksum: bool = True,
        rtcm_file: str = "",
    ):
        if not port and not replay_file:
            raise ValueError("a serial port (or URL) or a replay file is needed")
        self.parser = NmeaStreamParser(require_checksum=require_checksum)
        self.link = SerialLink(port, baudrate, reconnect_period) if port and not replay_file else None
        self.replay = ReplaySource(replay_file, replay_rate, replay_loop) if replay_file else None
        self.rtcm = Rtcm3Framer()
        self.rtcm_file = RtcmFile(rtcm_file) if rtcm_file else None
        self.rtcm_written = 0
        self.rtcm_dropped = 0
        self.quiet_flush = quiet_flush
        self._last_rx: float | None = None

    @property
    def connected(self) -> bool:
        return self.replay is not None or (self.link is not None and self.link.connected)

    def poll(self, now: float) -> list[GnssFix]:
        """Read what arrived; fixes stamped ``now``. Call every few milliseconds."""
        fixes: list[GnssFix] = []
        if self.replay is not None:
            for chunk in self.replay.due(now):
                fixes += self.parser.feed(chunk, now)
                fixes += self.parser.flush(now)
            return fixes
        assert self.link is not None
        if self.rtcm_file is not None:
            data = self.rtcm_file.read()
            if data:
                self.send_rtcm(data, now)
        data = self.link.read(now)
        if data:
            self._last_rx = now
            fixes += self.parser.feed(data, now)
        elif self._last_rx is not None and now - self._last_rx >= self.quiet_flush:
            fixes += self.parser.flush(now)
            self._last_rx = None
        return fixes

    def send_rtcm(self, data: bytes, now: float) -> int:
        """Write the complete, CRC-valid RTCM 3 frames in ``data`` to the receiver."""
        frames = self.rtcm.feed(data)
        sent = 0
        for frame in frames:
            if self.link is not None and self.link.write(frame, now):
                sent += 1
            else:
                self.rtcm_dropped += 1
        self.rtcm_written += sent
        return sent

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
        if self.rtcm_file is not None:
            self.rtcm_file.close()

    def counters(self) -> dict[str, int]:
        out = {f"nmea_{k}": v for k, v in self.parser.counters.as_dict().items()}
        out.update({f"rtcm_{k}": v for k, v in self.rtcm.counters.as_dict().items()})
        out["rtcm_written"] = self.rtcm_written
        out["rtcm_dropped"] = self.rtcm_dropped
        if self.link is not None:
            out.update({f"link_{k}": v for k, v in self.link.counters.as_dict().items()})
        return out
