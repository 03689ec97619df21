"""Compatibility name: an engine folder served behind the contract is a
:class:`cosmos_policy.policy.Policy` on an engine backend; ``EngineModel`` lives in
:mod:`cosmos_policy.policy.compact`, where new code imports it from.
"""

from cosmos_policy.policy.compact import EngineModel

__all__ = ["EngineModel"]
