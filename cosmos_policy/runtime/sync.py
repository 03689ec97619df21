"""Observation sync: timestamped frames, joint states and a prompt in, consistent observations out.

Sources push whenever they have data (ROS callbacks, a simulator step, a replayed bag); the
sync keeps a few recent items per stream and hands out the newest *consistent*
observation: every camera within ``tolerance_s`` of each other and of one joint state.
Bad input is rejected with a reason (returned, and counted as ``rejected:<reason>``) and
never raises, so a misbehaving driver cannot take the control loop down.

Counters (in the shared :class:`~cosmos_policy.runtime.telemetry.Telemetry`):
``frames``, ``joint_states``, ``observations``, ``dropped_frames`` (a frame discarded without
ever being part of an observation), ``stale_frames`` / ``stale_states`` (older than
``max_age_s`` when pushed), ``rejected:<reason>``.

Stamp watermark: each stream's stamps must increase. A stamp further than ``max_future_s``
ahead of the clock is refused as ``future_stamp`` (logged, at most once per stream every
few seconds) and never becomes the watermark, so one wrongly stamped message cannot make
every later correct one ``out_of_order``; :meth:`ObservationSync.clear` (an episode
boundary, ``~/reset``) forgets the watermark.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cosmos_policy.embodiment import Embodiment
from cosmos_policy.runtime.clock import Clock
from cosmos_policy.runtime.telemetry import Telemetry
from cosmos_policy.spec import Observation

log = logging.getLogger("cosmos_policy.runtime")
_LOG_INTERVAL_S = 5.0  # at most one future-stamp warning per stream per interval


@dataclass(frozen=True)
class SyncConfig:
    """How observations are assembled.

    cameras: which embodiment cameras make an observation (None: all of them).
    image_size: (H, W) frames must have (None: each camera's native size).
    tolerance_s: largest spread (s) of the stamps in one observation.
    max_age_s: a frame or joint state older than this (s) when pushed is stale.
    max_future_s: a stamp more than this (s) ahead of the clock is refused (a sender whose
        clock is wrong); bounds how far the watermark can be pushed.
    frames_kept: recent frames kept per camera; states_kept: recent joint states kept.
    """

    cameras: tuple[str, ...] | None = None
    image_size: tuple[int, int] | None = None
    tolerance_s: float = 0.05
    max_age_s: float = 1.0
    max_future_s: float = 1.0
    frames_kept: int = 8
    states_kept: int = 64

    def __post_init__(self) -> None:
        if not (self.tolerance_s >= 0 and math.isfinite(self.tolerance_s)):
            raise ValueError(f"tolerance_s: expected a finite value >= 0, got {self.tolerance_s}")
        if not self.max_age_s > 0:
            raise ValueError(f"max_age_s: expected > 0, got {self.max_age_s}")
        if not (self.max_future_s >= 0 and math.isfinite(self.max_future_s)):
            raise ValueError(f"max_future_s: expected a finite value >= 0, "
                             f"got {self.max_future_s}")
        if self.frames_kept < 1 or self.states_kept < 1:
            raise ValueError("frames_kept and states_kept: expected >= 1")


@dataclass
class _Frame:
    stamp: float
    image: np.ndarray
    used: bool = False


@dataclass(frozen=True)
class _State:
    stamp: float
    state: np.ndarray  # float32 (n + 1,)
    velocities: np.ndarray | None


class ObservationSync:
    """Push API in, :meth:`latest` out. Thread-safe: pushes may come from any thread."""

    def __init__(self, embodiment: Embodiment, clock: Clock, config: SyncConfig | None = None,
                 telemetry: Telemetry | None = None) -> None:
        self.config = config or SyncConfig()
        self.clock = clock
        self.telemetry = telemetry or Telemetry()
        spec = embodiment.observation_spec(self.config.cameras, self.config.image_size)
        self._image_shapes = {cam: s.shape for cam, s in spec.images.items()}
        self._cameras = tuple(spec.images)
        self._n = embodiment.n_joints
        self._arm_index = {name: i for i, name in enumerate(embodiment.joints)}
        self._gripper_joints = set(embodiment.gripper.joints)
        self._gripper_joint = embodiment.gripper.joints[0]
        self._gripper_spec = embodiment.gripper
        self._lock = threading.Lock()
        self._frames: dict[str, deque[_Frame]] = {c: deque() for c in self._cameras}
        self._newest_stamp: dict[str, float] = {}  # the per-stream watermark
        self._future_logged: dict[str, float] = {}  # stream -> monotonic time of last warning
        self._not_before = -math.inf  # inputs stamped before the last episode boundary
        self._states: deque[_State] = deque(maxlen=self.config.states_kept)
        self._gripper = 0.0
        self._prompt: str | None = None
        self._last: Observation | None = None
        self._last_cam_stamps: dict[str, float] = {}
        self._dirty = False
        self.last_rejection: str | None = None

    # ---------------------------------------------------------------- push API
    def push_image(self, camera: str, image: np.ndarray, stamp: float) -> str | None:
        """Offer one frame (uint8 (H, W, 3)) taken at ``stamp`` (s).

        Returns None when accepted, else the reason it was rejected.
        """
        shape = self._image_shapes.get(camera)
        if shape is None:
            return self._reject("unknown_camera")
        if not isinstance(image, np.ndarray) or image.shape != shape:
            return self._reject("bad_shape")
        if image.dtype != np.uint8:
            return self._reject("bad_dtype")
        with self._lock:
            reason = self._check_stamp(camera, stamp)
            if reason is not None:
                return self._reject(reason)
            buf = self._frames[camera]
            if len(buf) == self.config.frames_kept and not buf[0].used:
                self.telemetry.count("dropped_frames")
            if len(buf) == self.config.frames_kept:
                buf.popleft()
            buf.append(_Frame(float(stamp), image))
            self._dirty = True
        self.telemetry.count("frames")
        return None

    def push_joint_state(self, names: Sequence[str], positions: Sequence[float] | np.ndarray,
                         stamp: float, velocities: Sequence[float] | None = None) -> str | None:
        """Offer a joint state by name (e.g. a ``sensor_msgs/JointState``): rad or m, rad/s.

        Every arm joint must be present; gripper joints are optional (the last known opening
        is kept); any other name is rejected as ``unknown_joint``.
        """
        names = list(names)
        try:
            pos = np.asarray(positions, dtype=np.float64)
            vel = None if velocities is None or len(velocities) == 0 else np.asarray(
                velocities, dtype=np.float64)
        except (TypeError, ValueError):
            return self._reject("bad_dtype")
        if pos.shape != (len(names),) or (vel is not None and vel.shape != pos.shape):
            return self._reject("bad_shape")
        if any(n not in self._arm_index and n not in self._gripper_joints for n in names):
            return self._reject("unknown_joint")
        if len(set(names)) != len(names):
            return self._reject("duplicate_joint")
        index = {n: i for i, n in enumerate(names)}
        if any(n not in index for n in self._arm_index):
            return self._reject("missing_joint")
        order = [index[n] for n in self._arm_index]
        arm = pos[order]
        gripper = None
        if self._gripper_joint in index:
            x = float(pos[index[self._gripper_joint]])
            gripper = self._gripper_spec.opening(x) if math.isfinite(x) else math.nan
        state = np.append(arm, self._gripper if gripper is None else gripper)
        return self._push_state(state, stamp, None if vel is None else vel[order])

    def push_state(self, state: np.ndarray, stamp: float,
                   velocities: np.ndarray | None = None) -> str | None:
        """Offer a state vector already in embodiment order: (n + 1,) joints then gripper."""
        try:
            state = np.asarray(state, dtype=np.float64)
            vel = None if velocities is None else np.asarray(velocities, dtype=np.float64)
        except (TypeError, ValueError):
            return self._reject("bad_dtype")
        if state.shape != (self._n + 1,) or (vel is not None and vel.shape != (self._n,)):
            return self._reject("bad_shape")
        return self._push_state(state, stamp, vel)

    def set_prompt(self, prompt: str) -> str | None:
        """Set the task prompt used from the next observation on."""
        if not isinstance(prompt, str) or not prompt.strip():
            return self._reject("bad_prompt")
        with self._lock:
            self._prompt = prompt
            self._dirty = True
        return None

    def clear(self, not_before: float | None = None) -> None:
        """Forget buffered frames, joint states and the last observation (keep the prompt):
        at an episode boundary, so the next observation is made only of inputs that arrive
        after it, never of the previous episode's scene.

        not_before: the boundary's time (s, the stamps' clock). Inputs stamped before it
        are refused from now on as ``before_reset``: frames and joint states of the previous
        episode still in flight on the wire when the reset arrived (over DDS a large image
        can arrive after a small service request sent later).

        The per-stream stamp watermark is forgotten too: after a clock jump backwards, a
        reset is how an operator makes the sync accept the new (smaller) stamps.
        """
        with self._lock:
            self._newest_stamp.clear()
            for buf in self._frames.values():
                buf.clear()
            self._states.clear()
            self._last = None
            self._last_cam_stamps = {}
            self._dirty = False
            if not_before is not None:
                self._not_before = max(self._not_before, float(not_before))

    # ---------------------------------------------------------------- pull API
    def latest(self) -> Observation | None:
        """The newest consistent observation (None until one exists).

        Returns the same object until a newer consistent set is available.
        """
        with self._lock:
            if not self._dirty:
                return self._last
            self._dirty = False
            obs = self._assemble()
            if obs is None:
                return self._last
            self._last = obs
            oldest_frame = min(self._last_cam_stamps.values())
        self.telemetry.count("observations")
        self.telemetry.record("camera_to_observation", max(0.0, self.clock.now() - oldest_frame))
        return obs

    def latest_state(self) -> tuple[np.ndarray, float] | None:
        """The newest joint state ((n + 1,) float64, stamp s), or None before the first."""
        with self._lock:
            if not self._states:
                return None
            s = self._states[-1]
            return s.state.copy(), s.stamp

    # ---------------------------------------------------------------- internals
    def _push_state(self, state: np.ndarray, stamp: float,
                    vel: np.ndarray | None) -> str | None:
        if not np.all(np.isfinite(state)) or (vel is not None and not np.all(np.isfinite(vel))):
            return self._reject("non_finite")
        with self._lock:
            reason = self._check_stamp("joint_state", stamp)
            if reason is not None:
                return self._reject(reason)
            self._gripper = float(state[-1])
            self._states.append(_State(float(stamp), state.astype(np.float32),
                                       None if vel is None else vel.astype(np.float32)))
            self._dirty = True
        self.telemetry.count("joint_states")
        return None

    def _check_stamp(self, stream: str, stamp: float) -> str | None:
        """Under the lock: stamps must be finite, increase per stream, be recent and not
        too far ahead of the clock."""
        if not isinstance(stamp, (int, float)) or not math.isfinite(stamp):
            return "bad_stamp"
        now, bound = self.clock.now(), self.config.max_future_s
        if self._not_before - now > bound:
            # The reset boundary is now in the future: the clock jumped back. Keeping it
            # would refuse every input as before_reset until the clock caught up.
            self._not_before = -math.inf
            self._jumped_back(stream, "the last reset")
        if stamp < self._not_before:
            return "before_reset"
        if stamp - now > bound:
            self._warn_future(stream, float(stamp), stamp - now)
            return "future_stamp"
        newest = self._newest_stamp.get(stream, -math.inf)
        if newest - now > bound:
            # The watermark is in the future: the clock jumped back. Stamps accepted then
            # are no longer a bound on the ones to come; start over.
            del self._newest_stamp[stream]
            self._jumped_back(stream, "its newest stamp")
        elif stamp <= newest:
            return "out_of_order"
        if now - stamp > self.config.max_age_s:
            self.telemetry.count("stale_frames" if stream != "joint_state" else "stale_states")
            return "stale"
        self._newest_stamp[stream] = float(stamp)
        return None

    def _jumped_back(self, stream: str, what: str) -> None:
        self.telemetry.count("clock_jumps_back")
        log.warning("%s: the clock is now more than %.3f s before %s (it jumped back); "
                    "accepting new stamps", stream, self.config.max_future_s, what)

    def _warn_future(self, stream: str, stamp: float, ahead: float) -> None:
        """Under the lock: one log line per stream per interval (a flood stays quiet)."""
        now = time.monotonic()
        last = self._future_logged.get(stream)
        if last is not None and now - last < _LOG_INTERVAL_S:
            return
        self._future_logged[stream] = now
        log.warning("refused %s stamped %.3f s: %.3f s ahead of this clock (bound %.3f s); "
                    "check the sender's clock", stream, stamp, ahead, self.config.max_future_s)

    def _reject(self, reason: str) -> str:
        self.telemetry.count(f"rejected:{reason}")
        self.last_rejection = reason
        return reason

    def _assemble(self) -> Observation | None:
        """Under the lock: newest set of frames + state within tolerance, newer than the last."""
        if self._prompt is None or not self._states or any(not b for b in self._frames.values()):
            return None
        tol = self.config.tolerance_s
        ref, others = self._cameras[0], self._cameras[1:]
        last_t = self._last.timestamp if self._last is not None else -math.inf
        if last_t - self.clock.now() > self.config.max_future_s:
            last_t = -math.inf  # the clock jumped back: the last observation bounds nothing
        for frame in reversed(self._frames[ref]):
            chosen = {ref: frame}
            for cam in others:
                chosen[cam] = min(self._frames[cam], key=lambda f: abs(f.stamp - frame.stamp))
            stamps = [f.stamp for f in chosen.values()]
            if max(stamps) - min(stamps) > tol:
                continue
            mid = 0.5 * (max(stamps) + min(stamps))
            state = min(self._states, key=lambda s: abs(s.stamp - mid))
            stamps.append(state.stamp)
            if max(stamps) - min(stamps) > tol:
                continue
            timestamp = min(stamps)  # the oldest input: ages and the watchdog stay conservative
            if timestamp <= last_t:
                return None
            self._consume(chosen)
            return Observation(images={c: f.image for c, f in chosen.items()},
                               state=state.state.copy(), prompt=self._prompt,
                               timestamp=timestamp, velocities=state.velocities)
        return None

    def _consume(self, chosen: dict[str, _Frame]) -> None:
        """Mark the chosen frames used; frames older than them can never be used: drop them."""
        for cam, frame in chosen.items():
            frame.used = True
            self._last_cam_stamps[cam] = frame.stamp
            buf = self._frames[cam]
            while buf and buf[0].stamp < frame.stamp:
                if not buf.popleft().used:
                    self.telemetry.count("dropped_frames")
