"""GNSS receiver link over a real pty: fixes, unplug and reconnect, RTCM out, replay pacing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hil.gnss_emulator import GnssEmulator, GnssEmulatorConfig, PtyPort
from roadedge.localization.gnss import FixQuality, rtcm3_frame
from roadedge.localization.receiver import GnssReceiver, ReplaySource, RtcmFile

LOG = Path(__file__).with_name("data") / "sample_drive.nmea"


def pump(rx: GnssReceiver, now: float, rounds: int = 50) -> list[object]:
    fixes: list[object] = []
    for k in range(rounds):
        fixes += rx.poll(now + k * 0.01)
    return fixes


def test_fixes_over_a_pty_survive_an_unplug(tmp_path: Path) -> None:
    link = str(tmp_path / "gnss0")
    port = PtyPort(link)
    emu = GnssEmulator(GnssEmulatorConfig(quality=FixQuality.RTK_FIXED))
    rx = GnssReceiver(port=link, reconnect_period=0.2)
    try:
        now = 0.0
        got: list[object] = []
        for k in range(5):
            port.write("".join(emu.epoch(k * 0.1, 10.0, 5.0, 0.3, 2.0)).encode())
            got += pump(rx, now, 5)
            now += 0.1
        assert len(got) >= 4 and rx.link is not None and rx.link.counters.opens == 1
        port.unplug()  # cable pulled: the reader gets an I/O error, never an exception
        pump(rx, now, 5)
        assert not rx.connected and rx.link.counters.disconnects == 1
        now += 0.1
        port.plug()  # a new pty behind the same path
        port.write(b"stale bytes from before the reconnect are flushed\r\n")
        now += 0.5
        assert rx.poll(now) == [] and rx.connected and rx.link.counters.opens == 2
        after: list[object] = []
        for k in range(5):
            port.write("".join(emu.epoch(1.0 + k * 0.1, 11.0, 5.0, 0.3, 2.0)).encode())
            after += pump(rx, now, 5)
            now += 0.1
        assert len(after) >= 4
        assert all(f.quality == FixQuality.RTK_FIXED for f in after)  # type: ignore[attr-defined]
    finally:
        rx.close()
        port.close()


def test_missing_port_is_retried_not_fatal(tmp_path: Path) -> None:
    rx = GnssReceiver(port=str(tmp_path / "absent"), reconnect_period=0.5)
    assert rx.poll(0.0) == [] and rx.poll(0.1) == [] and rx.poll(0.6) == []
    assert rx.link is not None and rx.link.counters.open_failures == 2
    with pytest.raises(ValueError):
        GnssReceiver()


def test_rtcm_frames_are_checked_and_written_to_the_receiver(tmp_path: Path) -> None:
    link = str(tmp_path / "gnss0")
    port = PtyPort(link)
    rx = GnssReceiver(port=link)
    try:
        rx.poll(0.0)
        good = [rtcm3_frame(1005, bytes(19)), rtcm3_frame(1077, bytes(range(120)))]
        bad = bytearray(rtcm3_frame(1087, bytes(60)))
        bad[20] ^= 1
        sent = rx.send_rtcm(good[0][:10], 0.1) + rx.send_rtcm(good[0][10:] + bytes(bad) + good[1], 0.1)
        assert sent == 2 and rx.rtcm.counters.crc_errors >= 1
        port.read_back()
        assert port.rtcm.counters.frames == 2 and port.rtcm.counters.crc_errors == 0
    finally:
        rx.close()
        port.close()


def test_rtcm_from_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "rtcm.fifo"
    os.mkfifo(fifo)
    reader = RtcmFile(fifo)
    assert reader.read() == b""  # no writer yet
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    frame = rtcm3_frame(1005, bytes(19))
    os.write(fd, frame)
    assert reader.read() == frame
    os.close(fd)
    assert reader.read() == b""  # writer gone
    fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)  # a new writer (NTRIP client restarted)
    os.write(fd, frame)
    assert reader.read() == frame
    os.close(fd)
    reader.close()


def test_replay_is_paced_by_the_log_time() -> None:
    src = ReplaySource(LOG, rate=2.0)
    assert len(src.due(100.0)) == 1  # the first epoch at once
    assert len(src.due(100.5)) == 10  # 0.5 s at 2x = 1.0 s of log
    rest = src.due(1000.0)
    assert len(rest) == 450 - 11 and src.finished
    looped = ReplaySource(LOG, rate=1.0, loop=True)
    assert len(looped.due(0.0)) == 1 and len(looped.due(60.0)) > 450 and looped.loops == 1
