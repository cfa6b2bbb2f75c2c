"""ros2 launch roadedge vehicle.launch.py [params_file:=...] [namespace:=...] [use_sim_time:=true|false]

Starts the nodes of config/profiles/vehicle.yaml, the same graph as `roadedge run vehicle`.
"""

from roadedge.ros.launch import profile_launch_description


def generate_launch_description():  # type: ignore[no-untyped-def]
    return profile_launch_description("vehicle")
