"""HIL rig: device emulators (same wire protocols as the real devices) and scenarios."""
