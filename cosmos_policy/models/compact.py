"""Compatibility names: the compact model's wrapper is :class:`cosmos_policy.policy.Policy`.

``CompactWAM`` (a network on the torch backend) and ``load_model`` live in
:mod:`cosmos_policy.policy.compact`; new code imports them from there.
"""

from cosmos_policy.policy.compact import CompactWAM, load_model, resolve_domain

__all__ = ["CompactWAM", "load_model", "resolve_domain"]
