"""ROS 2 wire-compatible DDS transport, for machines without rclpy (needs the ``ros`` extra).

Modules (imported on use, so the core never needs cyclonedds):
- :mod:`~cosmos_policy.transport.msgs`: ROS 2 message types as cyclonedds IDL structs.
- :mod:`~cosmos_policy.transport.naming`: ``/a/b`` -> ``rt/a/b``, services, QoS profiles.
- :mod:`~cosmos_policy.transport.images`, :mod:`~cosmos_policy.transport.convert`: wire <->
  core types, every refusal a :class:`~cosmos_policy.transport.rejection.WireRejection`.
- :mod:`~cosmos_policy.transport.dds`: :class:`DdsTransport` (``observations()``, callbacks,
  ``send(command)``), with :mod:`~cosmos_policy.transport.services` for ``~/reset``,
  ``~/enable`` and ``~/estop`` (rmw_cyclonedds and rmw_fastrtps request layouts).
- :mod:`~cosmos_policy.transport.xtypes`: endpoints without XTypes type information, so
  Fast DDS 3 (ROS 2 Kilted) matches every type by name.

See docs/ROS2_WIRE.md.
"""
