"""Lateral and longitudinal controllers."""
