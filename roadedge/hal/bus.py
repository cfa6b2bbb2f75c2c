"""CAN buses as configuration, and a CAN link between processes that never leaves the machine.

``BusConfig`` names a python-can interface and channel:

* ``socketcan`` (``can0``) on vehicles;
* ``virtual`` (any channel name) inside one process: tests and the benchmark;
* ``serial`` (a device path) across processes: python-can's serial framing over a
  pseudo-terminal of a :class:`PtyCanHub`. This kernel has no SocketCAN/vcan, and a pty
  pair needs no privileges and no network, so HIL frames cannot leave the machine.
* ``serial`` with a ``socket://127.0.0.1:PORT`` channel: the same framing over TCP on the
  loopback interface to a :class:`SocketCanHub` (pyserial's ``socket://`` URLs, Nagle off).
  Use it where timing matters: a pty hands every write to the kernel's tty flip-buffer
  workqueue (a kworker at normal priority), so on a loaded machine a frame can wait there
  for tens of milliseconds however high the writer's priority (bench/hal_can.py: p99 period
  jitter 30-40 ms through ptys, 0.3-0.6 ms through loopback TCP, same load); loopback TCP
  delivers in the writer's own system call.

:class:`PtyCanHub` is the software equivalent of ``socat pty,link=A pty,link=B`` with
CAN awareness: it creates one pty per port, publishes each under a stable symlink, and
copies every complete frame written on one port to all other ports (a broadcast bus).
``unplug``/``replug`` of a port emulate pulling a CAN adapter: the client's reads fail
with an I/O error and it has to reopen the link (the HAL's reconnect).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import select
import socket
import threading
import time
import tty
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import can

INTERFACES = ("socketcan", "virtual", "serial", "udp_multicast")
_HEADER = 10  # 0xAA, 4 timestamp, 1 dlc, 4 id (python-can serial framing)


@dataclass(frozen=True)
class BusConfig:
    interface: str = "virtual"
    channel: str = "roadedge"
    bitrate: int = 500000
    options: dict[str, Any] = field(default_factory=dict)


def open_bus(config: BusConfig) -> can.BusABC:
    """Open the configured bus (raises can.CanError or OSError when it is not there)."""
    if config.interface not in INTERFACES:
        raise ValueError(f"unknown CAN interface {config.interface!r}; one of {INTERFACES}")
    kwargs: dict[str, Any] = dict(config.options)
    if config.interface == "socketcan":
        return can.Bus(interface="socketcan", channel=config.channel, **kwargs)
    if config.interface == "virtual":
        kwargs.setdefault("receive_own_messages", False)
        return can.Bus(interface="virtual", channel=config.channel, **kwargs)
    if config.interface == "serial":
        kwargs.setdefault("timeout", 0.02)
        url = "://" in config.channel
        bus = can.Bus(
            interface="serial", channel=config.channel if url else os.path.realpath(config.channel), **kwargs
        )
        sock = getattr(getattr(bus, "_ser", None), "_socket", None)
        if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # each frame goes out at once
        return bus
    return can.Bus(interface="udp_multicast", channel=config.channel, **kwargs)


def split_frames(buffer: bytearray) -> tuple[list[bytes], int]:
    """Complete python-can serial frames at the start of buffer, and bytes of garbage skipped.

    Consumes what it returns (and skipped garbage) from buffer.
    """
    frames: list[bytes] = []
    skipped = 0
    while buffer:
        if buffer[0] != 0xAA:
            start = buffer.find(0xAA)
            cut = len(buffer) if start < 0 else start
            del buffer[:cut]
            skipped += cut
            continue
        if len(buffer) < _HEADER:
            break
        dlc = buffer[5]
        if dlc > 8:
            del buffer[:1]
            skipped += 1
            continue
        end = _HEADER + dlc + 1
        if len(buffer) < end:
            break
        if buffer[end - 1] != 0xBB:
            del buffer[:1]
            skipped += 1
            continue
        frames.append(bytes(buffer[:end]))
        del buffer[:end]
    return frames, skipped


class _Port:
    def __init__(self, link: Path) -> None:
        self.link = link
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.buffer = bytearray()
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(os.ttyname(self.slave))

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.link.unlink()
        for fd in (self.master, self.slave):
            with contextlib.suppress(OSError):
                os.close(fd)


_Hub = TypeVar("_Hub", bound="_HubThread")


class _HubThread:
    """What the bus hubs share: a forwarding thread woken through a pipe, counters, a wire tap."""

    thread_name = "hub"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = os.pipe()
        self.frames = 0
        self.dropped = 0
        self.garbage = 0
        #: set to [] to record (time read from the sender, frame) of every frame: the wire
        self.tap: list[tuple[float, bytes]] | None = None

    def __enter__(self: _Hub) -> _Hub:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._open_links()
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        os.write(self._wake_w, b"x")
        if self._thread:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._close_links()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def _open_links(self) -> None:
        raise NotImplementedError

    def _close_links(self) -> None:
        """Called with the lock held, after the thread has ended."""
        raise NotImplementedError

    def _run(self) -> None:
        raise NotImplementedError


class PtyHub(_HubThread):
    """Pseudo-terminals joined like ``socat``: what one port's client writes, the others read.

    ``raw=False``: CAN frames (python-can ``serial`` framing) are forwarded whole, garbage
    between them is skipped and counted. ``raw=True``: bytes are forwarded as they come
    (a serial line, e.g. Modbus RTU between two ports). Line faults for tests: ports in
    ``corrupt_to`` get a bit flipped in everything forwarded to them, ``noise_to[port]``
    bytes are put before it, ``mute_to`` ports get nothing; ``inject`` writes bytes to a
    port's client.
    """

    def __init__(self, links: list[str | Path], raw: bool = False) -> None:
        self.raw = raw
        self.corrupt_to: set[Path] = set()
        self.mute_to: set[Path] = set()
        self.noise_to: dict[Path, bytes] = {}
        self._links = [Path(p) for p in links]
        self._ports: dict[Path, _Port] = {}
        super().__init__()

    thread_name = "pty-can-hub"

    @property
    def links(self) -> list[Path]:
        return list(self._links)

    def _open_links(self) -> None:
        for link in self._links:
            link.parent.mkdir(parents=True, exist_ok=True)
            self._ports[link] = _Port(link)

    def _close_links(self) -> None:
        for port in self._ports.values():
            port.close()
        self._ports.clear()

    def unplug(self, link: str | Path) -> None:
        """Pull the adapter: the client's pty goes away (its reads and writes fail)."""
        with self._lock:
            port = self._ports.pop(Path(link), None)
        if port:
            port.close()
        os.write(self._wake_w, b"x")

    def replug(self, link: str | Path) -> None:
        """Plug the adapter back in (a new pty under the same link)."""
        with self._lock:
            if Path(link) not in self._ports:
                self._ports[Path(link)] = _Port(Path(link))
        os.write(self._wake_w, b"x")

    def inject(self, link: str | Path, data: bytes) -> None:
        """Bytes out of nowhere (line noise) to the client of ``link``."""
        with self._lock:
            port = self._ports.get(Path(link))
        if port is not None:
            with contextlib.suppress(OSError):
                os.write(port.master, data)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                fds = {port.master: port for port in self._ports.values()}
            try:
                ready, _, _ = select.select([*fds, self._wake_r], [], [], 0.5)
            except (OSError, ValueError):
                continue  # a port closed under us (unplug): rebuild the fd set
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            for fd in ready:
                port = fds.get(fd)
                if port is None:
                    continue
                try:
                    chunk = os.read(fd, 4096)
                except OSError:
                    continue
                if self.raw:
                    self._broadcast(port, chunk)
                    continue
                now = time.monotonic()
                port.buffer += chunk
                frames, skipped = split_frames(port.buffer)
                if self.tap is not None and len(self.tap) < 200000:
                    self.tap.extend((now, frame) for frame in frames)
                self.garbage += skipped
                for frame in frames:
                    self._broadcast(port, frame)

    def _broadcast(self, source: _Port, frame: bytes) -> None:
        self.frames += 1
        with self._lock:
            targets = [p for p in self._ports.values() if p is not source]
        for port in targets:
            if port.link in self.mute_to:
                self.dropped += 1
                continue
            if port.link in self.corrupt_to and frame:
                frame = bytes([frame[0] ^ 0x01]) + frame[1:]
            if port.link in self.noise_to:
                frame = self.noise_to[port.link] + frame
            try:
                os.write(port.master, frame)
            except OSError as err:  # nobody reading that port: its queue is full
                if err.errno in (errno.EAGAIN, errno.EIO, errno.EBADF):
                    self.dropped += 1
                else:
                    raise


class PtyCanHub(PtyHub):
    """A CAN bus between processes over pseudo-terminals (python-can ``serial`` framing)."""

    def __init__(self, links: list[str | Path]) -> None:
        super().__init__(links, raw=False)


class SocketCanHub(_HubThread):
    """A CAN bus between processes over TCP on the loopback interface, like :class:`PtyCanHub`.

    One listening port per link (``ports``; 0 picks a free one); clients open
    ``socket://127.0.0.1:PORT`` (:attr:`links`) with the ``serial`` interface. Every whole
    frame a client writes goes to the clients of the other links. ``unplug`` closes a link's
    connections and stops listening on it (the client's reads and writes fail, its reopen
    is refused) until ``replug``; ``tap`` records frames as :class:`PtyCanHub` does.
    """

    def __init__(self, ports: list[int], host: str = "127.0.0.1") -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"the CAN hub stays on this machine: {host} is not a loopback address")
        self.host = host
        self._ports = list(ports)
        self._listeners: dict[str, socket.socket] = {}
        self._clients: dict[socket.socket, tuple[str, bytearray]] = {}
        super().__init__()

    thread_name = "socket-can-hub"

    @property
    def links(self) -> list[str]:
        return list(self._listeners)

    def _listen(self, port: int) -> tuple[str, socket.socket]:
        server = socket.create_server((self.host, port), reuse_port=False)
        server.setblocking(False)
        return f"socket://{self.host}:{server.getsockname()[1]}", server

    def _open_links(self) -> None:
        for port in self._ports:
            link, server = self._listen(port)
            self._listeners[link] = server

    def _close_links(self) -> None:
        for sock in [*self._listeners.values(), *self._clients]:
            sock.close()
        self._clients.clear()

    def unplug(self, link: str | Path) -> None:
        """Pull the adapter: the link's connections close and it accepts no new one."""
        link = str(link)
        with self._lock:
            server = self._listeners.get(link)
            if server is not None:
                server.close()
                self._listeners[link] = server  # closed: kept for its name until replug
            for sock, (name, _) in list(self._clients.items()):
                if name == link:
                    sock.close()
                    del self._clients[sock]
        os.write(self._wake_w, b"x")

    def replug(self, link: str | Path) -> None:
        link = str(link)
        with self._lock:
            server = self._listeners.get(link)
            if server is not None and server.fileno() < 0:
                self._listeners[link] = self._listen(int(link.rsplit(":", 1)[1]))[1]
        os.write(self._wake_w, b"x")

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                servers = {s: name for name, s in self._listeners.items() if s.fileno() >= 0}
                clients = dict(self._clients)
            try:
                watched: list[socket.socket | int] = [*servers, *clients, self._wake_r]
                ready, _, _ = select.select(watched, [], [], 0.5)
            except (OSError, ValueError):
                continue  # a socket closed under us (unplug): rebuild the set
            for item in ready:
                if isinstance(item, int):
                    os.read(self._wake_r, 64)
                elif item in servers:
                    self._accept(item, servers[item])
                elif item in clients:
                    self._receive(item, *clients[item])

    def _accept(self, server: socket.socket, link: str) -> None:
        try:
            client, _ = server.accept()
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.setblocking(False)
        with self._lock:
            self._clients[client] = (link, bytearray())

    def _receive(self, sock: socket.socket, link: str, buffer: bytearray) -> None:
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        now = time.monotonic()
        if not chunk:
            with self._lock:
                self._clients.pop(sock, None)
            sock.close()
            return
        buffer += chunk
        frames, skipped = split_frames(buffer)
        self.garbage += skipped
        if self.tap is not None and len(self.tap) < 200000:
            self.tap.extend((now, frame) for frame in frames)
        with self._lock:
            targets = [s for s, (name, _) in self._clients.items() if name != link]
        for frame in frames:
            self.frames += 1
            for target in targets:
                try:
                    target.sendall(frame)
                except OSError:  # not reading (full) or gone: the frame is lost for it
                    self.dropped += 1
