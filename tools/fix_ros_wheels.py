"""Rewrite the build-container paths that some ROS 2 wheels leave in their CMake exports.

The wheels are built in manylinux containers; their exported CMake files name
``/opt/python/cpXY-cpXY/include/pythonX.Y`` and that interpreter's numpy include
directory. Building an interface package against them needs this interpreter's paths.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

CONTAINER_PATH = re.compile(r"/opt/python/cp\d+-cp\d+[^;\"\s)]*")


def interpreter_paths(python: Path) -> tuple[str, str]:
    code = "import sysconfig, numpy; print(sysconfig.get_paths()['include']); print(numpy.get_include())"
    out = subprocess.run([str(python), "-c", code], check=True, capture_output=True, text=True).stdout
    include, numpy_include = out.split()
    return include, numpy_include


def replacement(container_path: str, include: str, numpy_include: str) -> str:
    if "numpy" in container_path:
        return numpy_include
    if "/include/python" in container_path:
        return include
    raise ValueError(f"unexpected container path {container_path!r}")


def main(venv: Path) -> int:
    include, numpy_include = interpreter_paths(venv / "bin" / "python")
    changed = 0
    for cmake_file in (venv / "share").rglob("*.cmake"):
        text = cmake_file.read_text()
        if "/opt/python/cp" not in text:
            continue
        new = CONTAINER_PATH.sub(lambda m: replacement(m.group(0), include, numpy_include), text)
        cmake_file.write_text(new)
        changed += 1
    print(f"fix_ros_wheels: rewrote {changed} CMake files")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
