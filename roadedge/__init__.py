"""roadedge: edge runtime for autonomous urban-service fleets.

The library is pure Python and importable without rclpy; only ``roadedge.ros`` touches ROS.
"""

__version__ = "0.1.0"
