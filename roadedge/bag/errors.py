"""Errors of the bag tools: every one says which bag or file and what is wrong with it."""

from __future__ import annotations


class BagError(Exception):
    """A bag cannot be written, opened or read (missing, corrupt, truncated, unknown type)."""
