"""Edge side of the vehicle-road-cloud link: MQTT 5 over TLS to a standard broker.

Pure Python (paho-mqtt, cryptography, jsonschema, sqlite3); no rclpy. The node
``nodes/cloud_bridge.py`` wires ROS topics to :class:`roadedge.cloud.bridge.CloudBridge`.
Layout and schema: ``config/cloud/README.md`` and ``config/cloud/schema.md``.
"""
