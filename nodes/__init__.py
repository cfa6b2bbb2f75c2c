"""Thin node executables: parameters, topics and timers; logic lives in roadedge/."""
