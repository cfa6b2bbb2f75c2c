"""The rclpy glue shared by every node: QoS table, node base, runner. Only place importing rclpy."""
