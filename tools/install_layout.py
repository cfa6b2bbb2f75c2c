"""Give an editable pip install of roadedge the layout that launch_ros and ament expect.

colcon installs console scripts to ``<prefix>/lib/roadedge/<exe>`` (setup.cfg) and data
to ``<prefix>/share/roadedge``; pip puts scripts in ``bin/`` and copies data once. Here
each node executable gets a launcher in ``lib/roadedge``, the ament index gets its
marker, and ``share/roadedge/{launch,config,models,hil}`` link to the source tree so an
edit is seen without reinstalling.
"""

from __future__ import annotations

import ast
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_FOLDERS = ("launch", "config", "models", "hil")


def node_executables() -> dict[str, str]:
    """NODES from setup.py, read without running it, so a new node needs no reinstall."""
    tree = ast.parse((ROOT / "setup.py").read_text())
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and any(getattr(t, "id", "") == "NODES" for t in stmt.targets):
            nodes: dict[str, str] = ast.literal_eval(stmt.value)
            return nodes
    raise SystemExit("setup.py has no NODES table")


def main(prefix: Path) -> int:
    python = prefix / "bin" / "python"
    lib = prefix / "lib" / "roadedge"
    lib.mkdir(parents=True, exist_ok=True)
    for old in lib.iterdir():
        old.unlink()
    scripts = node_executables()
    for name, target in scripts.items():
        module, _, func = target.partition(":")
        launcher = lib / name
        launcher.write_text(
            f"#!{python}\n"
            f"import sys\nfrom {module} import {func}\n"
            f"if __name__ == '__main__':\n    sys.exit({func}())\n"
        )
        launcher.chmod(0o755)

    index = prefix / "share" / "ament_index" / "resource_index" / "packages"
    index.mkdir(parents=True, exist_ok=True)
    (index / "roadedge").write_text("")

    share = prefix / "share" / "roadedge"
    share.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "package.xml", share / "package.xml")
    for folder in SHARED_FOLDERS:
        target = share / folder
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.is_dir():
            shutil.rmtree(target)
        target.symlink_to(ROOT / folder, target_is_directory=True)
    print(f"install_layout: {len(scripts)} executables in {lib}, share/roadedge -> {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve()))
