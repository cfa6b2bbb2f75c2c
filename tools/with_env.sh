#!/usr/bin/env bash
# Runs a command inside roadedge's venv with the ROS 2 environment it needs, DDS kept on this machine.
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${ROADEDGE_VENV:-$root/.venv}
export VIRTUAL_ENV=$venv
export PATH=$venv/bin:$PATH
export AMENT_PREFIX_PATH=$venv${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}
export LD_LIBRARY_PATH=$venv/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
# Never let discovery leave this machine; a domain of our own unless the caller chose one.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
if [[ -z ${ROS_DOMAIN_ID:-} ]]; then
    # Claim a domain no other roadedge run on this machine holds (the test harness uses the same
    # lock files); the lock lives as long as the command and its children keep fd 9 open. Ids 1-100
    # only (roadedge.local_dds.MAX_SAFE_DOMAIN_ID): higher ids put DDS ports in the ephemeral range.
    lock_dir=${TMPDIR:-/tmp}/roadedge-domains
    mkdir -p "$lock_dir"
    for offset in $(seq 0 99); do
        candidate=$(( 1 + ($$ + offset) % 100 ))
        exec 9>"$lock_dir/$candidate.lock"
        if flock -n 9; then
            export ROS_DOMAIN_ID=$candidate
            break
        fi
        exec 9>&-
    done
    [[ -n ${ROS_DOMAIN_ID:-} ]] || { echo "with_env: no free ROS_DOMAIN_ID" >&2; exit 1; }
fi
export ROS_HOME=${ROS_HOME:-$root/out/ros_home}
export ROS_LOG_DIR=${ROS_LOG_DIR:-$ROS_HOME/log}
export RCUTILS_COLORIZED_OUTPUT=${RCUTILS_COLORIZED_OUTPUT:-0}
export PYTHONUNBUFFERED=1
exec "$@"
