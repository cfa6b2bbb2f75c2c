#!/usr/bin/env bash
# Installs everything roadedge needs into .venv, which becomes the ROS 2 prefix:
# ROS 2 wheels (Jazzy by default, Kilted with ROS_DISTRO=kilted), Python dependencies, the fixes
# those wheels need, the interface packages built with CMake, and roadedge itself in the layout
# launch_ros expects.
# Idempotent: each step records a hash of its inputs and is skipped when they are unchanged.
# One venv holds one distro: switching ROS_DISTRO recreates it (ROADEDGE_VENV keeps one per distro).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ROADEDGE_VENV:-$root/.venv}
python=${PYTHON:-python3}
stamps=$venv/.stamps
# ROADEDGE_ROS_DISTRO wins over ROS_DISTRO, which a sourced ROS install also sets.
distro=${ROADEDGE_ROS_DISTRO:-${ROS_DISTRO:-jazzy}}
case $distro in
    jazzy|kilted) ;;
    *) echo "roadedge installs ROS 2 jazzy or kilted wheels, not '$distro' (ROS_DISTRO from a sourced" \
            "ROS install? set ROADEDGE_ROS_DISTRO=jazzy or kilted)" >&2; exit 1 ;;
esac

log() { printf '[bootstrap %s] %s\n' "$(date +%T)" "$*"; }
# This machine's pip configuration may name local wheel folders that do not exist; pip
# warns about each of them on every package. Keep the log readable.
quiet_pip_warnings() { grep -v "^WARNING: Location '.*' is ignored: it is neither a file nor a directory." >&2 || true; }

# step NAME INPUT... : true when NAME must run because its inputs changed
needs() {
    local name=$1; shift
    local digest
    digest=$(cat "$@" 2>/dev/null | sha256sum | cut -c1-16)
    if [[ -f $stamps/$name && $(cat "$stamps/$name") == "$digest" ]]; then
        return 1
    fi
    echo "$digest" >"$stamps/$name.pending"
    return 0
}
done_step() { mv "$stamps/$1.pending" "$stamps/$1"; }

# A venv from before distros were recorded holds Jazzy.
if [[ -x $venv/bin/python ]]; then
    installed=$(cat "$stamps/ros-distro" 2>/dev/null || echo jazzy)
    if [[ $installed != "$distro" ]]; then
        [[ -f $venv/pyvenv.cfg ]] || { echo "$venv is not a venv; remove it or set ROADEDGE_VENV" >&2; exit 1; }
        log "$venv holds ROS 2 $installed, $distro wanted: recreating it"
        rm -rf "$venv"
    fi
fi
if [[ ! -x $venv/bin/python ]]; then
    version=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    case $version in
        3.10|3.11|3.12|3.13) ;;
        *) echo "roadedge needs Python 3.10-3.13, $python is $version (set PYTHON=...)" >&2; exit 1 ;;
    esac
    log "creating $venv with $python ($version)"
    "$python" -m venv "$venv"
fi
mkdir -p "$stamps"
echo "$distro" >"$stamps/ros-distro"
pip_run() { "$venv/bin/python" -m pip --disable-pip-version-check -q "$@" 2> >(quiet_pip_warnings); }

if needs ros-wheels "$root/requirements/ros-$distro.txt"; then
    log "installing ROS 2 $distro wheels"
    pip_run install -r "$root/requirements/ros-$distro.txt"
    done_step ros-wheels
fi

if needs python-deps "$root/requirements/python.txt"; then
    log "installing Python dependencies"
    pip_run install -r "$root/requirements/python.txt"
    done_step python-deps
fi

if needs wheel-fixes "$root/tools/fix_ros_wheels.py" "$stamps/ros-wheels"; then
    log "rewriting build-container paths in the ROS wheels' CMake files"
    "$venv/bin/python" "$root/tools/fix_ros_wheels.py" "$venv"
    done_step wheel-fixes
fi

build_interface() {  # build_interface SOURCE_DIR NAME
    local src=$1 name=$2 build=$venv/build/$2
    log "building $name into $venv"
    rm -rf "$build"; mkdir -p "$build"
    # The venv is the prefix: CMake finds the ROS packages there and installs beside them.
    AMENT_PREFIX_PATH=$venv VIRTUAL_ENV=$venv PATH=$venv/bin:$PATH \
        cmake -S "$src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_INSTALL_PREFIX="$venv" -DCMAKE_PREFIX_PATH="$venv" \
        -DCMAKE_INSTALL_RPATH="$venv/lib" -DBUILD_TESTING=OFF \
        -DPython3_EXECUTABLE="$venv/bin/python" >"$build.log" 2>&1 \
        || { cat "$build.log" >&2; exit 1; }
    AMENT_PREFIX_PATH=$venv PATH=$venv/bin:$PATH \
        cmake --build "$build" --target install -j"$(nproc)" >>"$build.log" 2>&1 \
        || { tail -50 "$build.log" >&2; exit 1; }
}

# tf2_msgs is not on the index: build the wire-compatible TFMessage only where it is absent.
if ! "$venv/bin/python" -c 'import tf2_msgs.msg' 2>/dev/null || [[ -f $stamps/tf2-msgs-compat ]]; then
    if needs tf2-msgs-compat "$root"/interfaces/compat/tf2_msgs/*.* "$root"/interfaces/compat/tf2_msgs/msg/* "$stamps/wheel-fixes"; then
        build_interface "$root/interfaces/compat/tf2_msgs" tf2_msgs
        done_step tf2-msgs-compat
    fi
fi

if needs roadedge-msgs "$root"/interfaces/roadedge_msgs/*.* "$root"/interfaces/roadedge_msgs/msg/* \
        "$root"/interfaces/roadedge_msgs/srv/* "$stamps/wheel-fixes"; then
    build_interface "$root/interfaces/roadedge_msgs" roadedge_msgs
    done_step roadedge-msgs
fi

if needs roadedge "$root/setup.py" "$root/setup.cfg" "$root/pyproject.toml" "$root/package.xml" "$root/tools/install_layout.py" \
        "$stamps/python-deps"; then
    log "installing roadedge (editable) and its launch_ros layout"
    pip_run install --no-deps --no-build-isolation -e "$root"
    "$venv/bin/python" "$root/tools/install_layout.py" "$venv"
    done_step roadedge
fi
log "ready: $venv"
