"""Speed hold through throttle and brake: PI with feed-forward of the resistance.

The first vertical slice drives the chassis open-loop on its pedals (``use_pedals``) so
that holding a speed is a real closed loop across the DDS boundary.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SpeedHoldGains:
    kp: float = 0.5  # pedal per m/s of speed error
    ki: float = 0.15  # pedal per m of integrated error
    resistance_ff: float = 0.01  # pedal per m/s to hold speed against drag
    resistance_offset: float = 0.05  # pedal to overcome rolling resistance when moving
    integral_limit: float = 3.0  # m, anti-windup bound of the integrated error
    integral_band: float = 1.0  # m/s, integrate only this close to the target (no windup while accelerating)
    brake_deadband: float = 0.02  # pedal below which neither pedal is pressed


@dataclass
class Pedals:
    throttle: float
    brake: float


class SpeedHold:
    def __init__(self, gains: SpeedHoldGains | None = None) -> None:
        self.gains = gains or SpeedHoldGains()
        self._integral = 0.0

    def reset(self) -> None:
        self._integral = 0.0

    def update(self, target_speed: float, speed: float, dt: float) -> Pedals:
        """Pedal positions (0..1) that move ``speed`` towards ``target_speed``."""
        g = self.gains
        error = target_speed - speed
        if dt > 0 and abs(error) < g.integral_band:
            self._integral = max(-g.integral_limit, min(g.integral_limit, self._integral + error * dt))
        feed_forward = g.resistance_offset + g.resistance_ff * target_speed if target_speed > 0 else 0.0
        effort = g.kp * error + g.ki * self._integral + feed_forward
        if target_speed <= 0.0 and speed <= 0.05:
            return Pedals(0.0, 0.3)  # hold at standstill
        if effort > g.brake_deadband:
            return Pedals(min(effort, 1.0), 0.0)
        if effort < -g.brake_deadband:
            return Pedals(0.0, min(-effort, 1.0))
        return Pedals(0.0, 0.0)
