"""The safety layer for whole chunks: what the WebSocket server answers has passed the same
limits as every streamed command.

A streamed command passes :class:`~cosmos_policy.runtime.SafetyLayer` once per command
period. A chunk answered over the wire is a plan at the action rate, so the limiter runs
the same layer (same :class:`SafetyConfig`, same workspace guard) over the straight line
between consecutive targets at the command period, starting at rest from the state the
client sent, and answers the pose reached at each action step. Hence every answered target
is finite and inside the position limits and workspace box, the gripper opening is in
[0, 1], and the finite differences of the answered targets stay within the velocity and
acceleration limits. Each request gets a fresh layer: no client's chunk affects another's.

Inputs are checked first: a state that is not finite, or far outside the joint limits or the
gripper range (a sensor fault, a unit mistake), is refused with the reason.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.runtime import SafetyConfig, SafetyLayer
from cosmos_policy.runtime.build import WorkspaceGuard

# How far (as a fraction of each joint's range) a measured state may sit outside the joint
# limits before it is refused: encoders and controllers overshoot a little, 1e30 does not.
STATE_TOLERANCE = 0.02
GRIPPER_TOLERANCE = 0.05  # opening units, around [0, 1]


class ChunkLimiter:
    """Checks states and passes chunks of joint targets through the safety layer.

    guard: ``(fk, reach)`` of the workspace box (as the policy node uses), or None.
    """

    def __init__(self, embodiment: Embodiment, guard: WorkspaceGuard | None = None) -> None:
        self.embodiment = embodiment
        self.n = embodiment.n_joints
        fk, reach = guard if guard is not None else (None, None)
        self.fk = fk
        self.base = SafetyConfig.from_embodiment(embodiment, reach=reach)
        self._configs: dict[int, SafetyConfig] = {}
        lim = embodiment.position_limits
        slack = STATE_TOLERANCE * (lim[:, 1] - lim[:, 0])
        self._state_low, self._state_high = lim[:, 0] - slack, lim[:, 1] + slack

    def check_state(self, state: np.ndarray) -> str | None:
        """None when ``state`` (n + 1,) is plausible, else the reason, for people."""
        state = np.asarray(state, dtype=np.float64)
        joints = list(self.embodiment.joints) + ["gripper"]
        bad = [j for j, x in zip(joints, state, strict=False) if not math.isfinite(x)]
        if bad:
            return f"state: non-finite value for {', '.join(bad)}"
        for i, name in enumerate(self.embodiment.joints):
            if not self._state_low[i] <= state[i] <= self._state_high[i]:
                lo, hi = self.embodiment.position_limits[i]
                return (f"state: {name} = {state[i]:.6g} outside its limits "
                        f"[{lo:.4g}, {hi:.4g}]")
        g = state[self.n]
        if not -GRIPPER_TOLERANCE <= g <= 1.0 + GRIPPER_TOLERANCE:
            return f"state: gripper opening {g:.6g} outside [0, 1]"
        return None

    def _config(self, steps: int, dt: float) -> SafetyConfig:
        """The base limits at the sub-step period ``dt / steps`` (cached per step count)."""
        key = int(round(dt * 1e6)) * 1000 + steps
        cfg = self._configs.get(key)
        if cfg is None:
            cfg = self._configs[key] = dataclasses.replace(self.base, dt=dt / steps)
        return cfg

    def limit(self, state: np.ndarray, targets: np.ndarray,
              dt: float) -> tuple[np.ndarray, list[str]]:
        """Safe (T, n + 1) targets for the (T, n + 1) ``targets`` at period ``dt`` (s) from
        ``state`` (n + 1,) at rest, and the sorted reasons any were changed (``hold:*`` when
        a target was not finite: the layer brakes and holds)."""
        state = np.asarray(state, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        # Sub-steps of at most the command period: never coarser than streamed commands.
        steps = max(1, math.ceil(dt * self.embodiment.command_rate_hz - 1e-9))
        layer = SafetyLayer(self._config(steps, dt), self.fk)
        layer.reset(state, 0.0)
        reasons: Counter[str] = Counter()
        out = np.empty((len(targets), self.n + 1))
        prev, t = state, 0.0
        for k, target in enumerate(targets):
            for j in range(1, steps + 1):
                t += dt / steps
                sub = prev + (target - prev) * (j / steps)
                sub[self.n] = target[self.n]  # the gripper steps, as in the control loop
                cmd = layer.send(sub, t)
                reasons.update(cmd.reasons)
            out[k] = cmd.positions
            prev = target if np.all(np.isfinite(target)) else cmd.positions
        return out, sorted(reasons)


__all__ = ["GRIPPER_TOLERANCE", "STATE_TOLERANCE", "ChunkLimiter"]
