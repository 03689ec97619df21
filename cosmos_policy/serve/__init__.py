"""Serving the policy: the transport-agnostic node core and its shells.

:class:`~cosmos_policy.serve.node_core.PolicyNodeCore` composes the runtime (sync, inference,
scheduling, projection, safety, loop, telemetry) behind a small transport contract; the
rclpy node (``ros2_ws/src/cosmos_policy_ros``), the bare-DDS server
(:mod:`cosmos_policy.serve.dds_server`) and the WebSocket server
(:mod:`cosmos_policy.serve.websocket_server`) only move bytes in and out of it.
"""
