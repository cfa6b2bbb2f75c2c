"""Rewrite the README's generated topic table from roadedge/topics.py."""

from __future__ import annotations

import re
from pathlib import Path

from roadedge.topic_table import BEGIN, END, section

README = Path(__file__).resolve().parent.parent / "README.md"

text = README.read_text()
pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
README.write_text(pattern.sub(lambda _: section(), text))
print("README topic table updated")
