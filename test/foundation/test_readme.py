"""The README stays true to the code: topic table, profiles, launch files, commands."""

from __future__ import annotations

import re
from pathlib import Path

from roadedge.profiles import available_profiles
from roadedge.topic_table import section

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_topic_table_matches_the_topic_map() -> None:
    assert section() in README, "run: tools/with_env.sh python tools/update_readme_topics.py"


def test_named_profiles_and_launch_files_exist() -> None:
    for name in re.findall(r"roadedge run (\w+)", README):
        assert name in available_profiles(), name
    for launch in re.findall(r"(\w+\.launch\.py)", README):
        assert (ROOT / "launch" / launch).is_file(), launch


def test_the_two_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:", makefile, re.M) and re.search(r"^test:", makefile, re.M)
    assert "make demo" in README and "make test" in README
