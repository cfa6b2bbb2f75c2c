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
export ROS_DOMAIN_ID=${ROS_DOMAIN_ID:-$(( 100 + $$ % 100 ))}
export ROS_HOME=${ROS_HOME:-$root/out/ros_home}
export ROS_LOG_DIR=${ROS_LOG_DIR:-$ROS_HOME/log}
export RCUTILS_COLORIZED_OUTPUT=${RCUTILS_COLORIZED_OUTPUT:-0}
export PYTHONUNBUFFERED=1
exec "$@"
