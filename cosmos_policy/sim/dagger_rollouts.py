"""DAgger rollouts: the policy runs through ``cosmos-policy eval``'s runtime (lockstep) and
every visited state is written with the scripted expert's action from that state, as a
LeRobot v3 dataset in the layout ``cosmos-policy record`` writes (:func:`dataset_features`).
The campaign around them (rounds, fine-tunes, validation) is :mod:`cosmos_policy.sim.dagger`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.data.layout import CHUNK_KEY
from cosmos_policy.errors import UserError

# An expert's fields that point at shared objects (the env, its scene, compiled models):
# never copied or restored by LabelTap._expert_chunk.
_SHARED_EXPERT_FIELDS = frozenset({"env", "scene", "cfg", "_fk", "_projector", "kin"})

# Rollout seeds start here by default: inside the training split, above every range that
# docs/train_default.sh records demonstrations on (1000-47000).
DAGGER_SEED_START = 50000


def dataset_features(env: Any) -> tuple[dict[str, Any], list[str],
                                        Callable[[], np.ndarray] | None]:
    """LeRobot features of a tabletop env's frames (the layout ``record`` writes): each camera,
    ``observation.state``, ``observation.ee_pose``, ``observation.environment_state`` (when the
    env has objects) and ``action`` (10 unified, or joint targets + gripper). Returns the
    features, the camera names and the object reader (or None)."""
    from cosmos_policy.data.lerobot import (
        POSE9_NAMES,
        camera_feature,
        vector_feature,
    )
    from cosmos_policy.sim.scene import object_state_reader

    emb = env.unwrapped.embodiment
    cameras = list(env.observation_space["images"].spaces)
    fps = int(round(emb.control_rate_hz))
    features: dict[str, Any] = {}
    for c in cameras:
        h, w = env.observation_space["images"][c].shape[:2]
        features[f"observation.images.{c}"] = camera_feature(h, w, fps)
    features["observation.state"] = vector_feature(list(emb.joints) + ["gripper"])
    features["observation.ee_pose"] = vector_feature(POSE9_NAMES)
    objects = object_state_reader(env.unwrapped)
    read_objects = None
    if objects is not None:
        names, read_objects = objects
        features["observation.environment_state"] = vector_feature(names)
    action_dim = int(env.action_space.shape[0])
    features["action"] = vector_feature(POSE9_NAMES + ["gripper"] if action_dim == 10
                                        else list(emb.joints) + ["gripper"])
    return features, cameras, read_objects


class LabelTap:
    """Taps an :class:`Evaluator`'s env: at the first command of every policy step it keeps
    the frames the evaluator rendered for the policy, the proprioception and objects, and the
    expert's label from that state. ``on_frame(env, label, command)`` (tests) sees each label
    with the env before the step and the joint command (n + 1,) the policy's runtime sent.

    ``chunk`` > 1 also keeps the expert's own chunk from that state (``action.chunk``): the
    expert drives the simulator ``chunk - 1`` more steps from the visited state, and the
    simulator and the expert are put back exactly as they were. The labels of the next
    visited states are no substitute: they follow the policy's path, not the expert's.
    ``labels``: how far off its own path the expert still counts a state as its manoeuvre
    under way (:func:`~cosmos_policy.sim.experts.label_config`). ``feedback``: what a label
    starts from, ``command`` (the last command and the tool's velocity) or ``state`` (the
    measured pose; :class:`~cosmos_policy.sim.experts.ExpertConfig`)."""

    def __init__(self, evaluator: Any, features: dict[str, Any], cameras: list[str],
                 read_objects: Callable[[], np.ndarray] | None,
                 on_frame: Callable[..., None] | None = None, chunk: int = 1,
                 labels: str = "strict", feedback: str = "command") -> None:
        from cosmos_policy.sim.experts import label_config, make_expert

        self.chunk = chunk
        self.env = evaluator.env
        self.scene = self.env.scene
        self.expert = make_expert(self.env, label_config(labels, feedback))
        self.features, self.cameras, self.read_objects = features, cameras, read_objects
        self.on_frame = on_frame
        self._render, self._step = self.scene.render, self.env.step_joint_targets
        # instance attributes shadow the methods on this evaluator's env only
        self.scene.render = self._on_render
        self.env.step_joint_targets = self._on_step
        self.begin()

    def begin(self) -> None:
        """A new episode: empty rows, a fresh expert."""
        self.rows: dict[str, list[np.ndarray]] = {k: [] for k in self.features}
        self.expert.reset()
        self._frames: dict[str, np.ndarray] | None = None

    def _on_render(self) -> dict[str, np.ndarray]:
        self._frames = self._render()
        return self._frames

    def _on_step(self, q: np.ndarray, gripper: float, duration_s: float) -> bool:
        if self._frames is not None:  # the first command after the policy's frames
            s = self.scene
            obs = {"images": self._frames, "prompt": self.env.task.prompt,
                   "state": np.append(s.arm_q(), s.gripper_opening()).astype(np.float32),
                   "ee_pose": _pose9(s)}
            label = np.asarray(self.expert.label(obs), dtype=np.float32)
            if self.chunk > 1:
                self.rows[CHUNK_KEY].append(self._expert_chunk(label).reshape(-1))
            for c in self.cameras:
                self.rows[f"observation.images.{c}"].append(self._frames[c])
            self.rows["observation.state"].append(obs["state"])
            self.rows["observation.ee_pose"].append(obs["ee_pose"])
            if self.read_objects is not None:
                self.rows["observation.environment_state"].append(self.read_objects())
            self.rows["action"].append(label)
            if self.on_frame is not None:
                self.on_frame(self.env, label, np.append(q, gripper))
            self._frames = None
        return self._step(q, gripper, duration_s)

    def _expert_chunk(self, label: np.ndarray) -> np.ndarray:
        """(chunk, action_dim): ``label``, then the expert's next actions as it drives on from
        this state; the simulator, the env's last targets and the expert are restored."""
        import copy

        import mujoco

        s, env = self.scene, self.env
        saved = mujoco.MjData(s.model)
        mujoco.mj_copyData(saved, s.model, s.data)
        q_target, expert_state = env._q_target.copy(), copy.deepcopy(  # noqa: SLF001
            {k: v for k, v in vars(self.expert).items() if k not in _SHARED_EXPERT_FIELDS})
        out = [label]
        try:
            for _ in range(self.chunk - 1):
                target = (out[-1] if env.action_mode == "joint"
                          else self.expert._to_joint(out[-1]))  # noqa: SLF001 - expert's IK
                lim = env.embodiment.position_limits
                env._q_target = np.clip(target[:-1], lim[:, 0], lim[:, 1])  # noqa: SLF001
                s.step(env._q_target, float(target[-1]))  # noqa: SLF001
                out.append(np.asarray(self.expert.act(None), dtype=np.float32))
        finally:
            mujoco.mj_copyData(s.data, s.model, saved)
            env._q_target = q_target  # noqa: SLF001
            vars(self.expert).update(expert_state)
        return np.stack(out)


def _pose9(scene: Any) -> np.ndarray:
    from cosmos_policy.sim.env import pose9

    return pose9(scene.tcp_pos(), scene.tcp_rot())


@dataclass
class RolloutStats:
    """One (task, embodiment) rollout batch: episodes kept, frames, policy successes."""

    task: str
    embodiment: str
    episodes: int = 0
    frames: int = 0
    successes: int = 0
    sim_errors: int = 0
    seeds: list[int] = field(default_factory=list)


def lockstep_evaluator(model: str, task: str, embodiment: str, *, backend: str,
                       image_size: int, seed: int, latency_s: float,
                       max_steps: int | None, guidance: float = 1.0) -> Any:
    """An :class:`Evaluator` of ``model`` in lockstep, no videos (one episode per call)."""
    from cosmos_policy.sim.evaluate import EvalConfig, Evaluator

    return Evaluator(EvalConfig(task=task, embodiment=embodiment, episodes=1, seed=seed,
                                model=model, backend=backend, lockstep=True,
                                lockstep_latency_s=latency_s, image_size=image_size, videos=0,
                                max_steps=max_steps, guidance=guidance))


def rollout_dataset(model: str, task: str, embodiment: str, seeds: Sequence[int], out: Path, *,
                    backend: str = "torch", image_size: int = 128, latency_s: float = 0.05,
                    max_steps: int | None = None, on_frame: Callable[..., None] | None = None,
                    chunk: int = 1, labels: str = "strict",
                    feedback: str = "command") -> RolloutStats:
    """Roll ``model`` out on ``seeds`` (training split) and write the expert-labelled states
    as a LeRobot v3 dataset at ``out`` (every episode, won or lost: DAgger labels them all).
    ``chunk`` > 1: every frame also holds the expert's own ``chunk`` actions from that state
    (``action.chunk``, see :class:`LabelTap`). ``labels``: ``strict`` or ``tolerant``
    (:func:`~cosmos_policy.sim.experts.label_config`)."""
    from cosmos_policy.data.layout import vector_feature
    from cosmos_policy.data.lerobot import LeRobotWriter
    from cosmos_policy.sim.suite import load_suite

    report = load_suite().seed_report(min(seeds), max(seeds) - min(seeds) + 1)
    if report.split != "training":
        raise UserError(f"DAgger rolls out on training seeds only; seeds {min(seeds)}-"
                        f"{max(seeds)} lie in {report.split}: use --seed {DAGGER_SEED_START}")
    ev = lockstep_evaluator(model, task, embodiment, backend=backend, image_size=image_size,
                    seed=min(seeds), latency_s=latency_s, max_steps=max_steps)
    stats = RolloutStats(task, ev.emb.name)
    try:
        features, cameras, read_objects = dataset_features(ev.env)
        if chunk > 1:
            names = features["action"]["names"]
            features[CHUNK_KEY] = vector_feature([f"{n}@{k}" for k in range(chunk)
                                                  for n in names])
        tap = LabelTap(ev, features, cameras, read_objects, on_frame, chunk=chunk, labels=labels,
                       feedback=feedback)
        fps = int(round(ev.emb.control_rate_hz))
        provenance = {"task": task, "embodiment": ev.emb.name, "source": "dagger",
                      "policy": str(model), "seeds": stats.seeds, "labels": labels,
                      "feedback": feedback}
        with LeRobotWriter(out, fps=fps, robot_type=ev.emb.robot_type, features=features,
                           extra_info={"cosmos_policy": provenance}) as writer:
            for seed in seeds:
                tap.begin()
                run = ev.run_episode(seed)
                if run.counters.get("sim_errors") or not tap.rows["action"]:
                    stats.sim_errors += 1
                    continue
                writer.add_episode({k: np.stack(v) for k, v in tap.rows.items()},
                                   run.prompt)
                stats.seeds.append(seed)
                stats.episodes += 1
                stats.frames += len(tap.rows["action"])
                stats.successes += bool(run.success)
            if stats.episodes:
                writer.finalize()
            else:
                writer.abort()
    finally:
        ev.close()
    return stats
