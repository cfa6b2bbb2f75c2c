"""Hardware abstraction: DBC-driven CAN chassis, serial devices and the safety watchdog.

Pure Python (no rclpy): the chassis HAL node, the HIL emulators and the benchmark build
on :mod:`roadedge.hal.canmap` (frames <-> message fields), :mod:`roadedge.hal.safety`
(the one safety watchdog), :mod:`roadedge.hal.bus` (bus configuration, pty CAN link)
and :mod:`roadedge.hal.runtime` (the 50 Hz transmit loop and the receive loop).
"""
