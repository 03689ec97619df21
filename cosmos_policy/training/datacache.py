"""In-memory training data: episodes decoded once at model resolution, grouped by domain.

Each dataset (LeRobot v3, through :func:`cosmos_policy.data.open_dataset`) is read once:
its videos are decoded, resized with :func:`resize_frames` (the inference path) and kept as
uint8; its ``robot_type`` picks the embodiment domain. Statistics of state and action are
computed per domain. After the autoencoder phase the frames are also kept as latents.
Which objects a recording's ``observation.environment_state`` holds is the task layout's
(:class:`~cosmos_policy.training.layout.TaskLayout`, from the suite YAML), passed in as data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tqdm import tqdm

from cosmos_policy.data.layout import CHUNK_KEY
from cosmos_policy.errors import UserError
from cosmos_policy.models.autoencoder import frames_to_tensor, resize_frames
from cosmos_policy.models.config import STD_FLOOR, DomainSpec, WAMConfig
from cosmos_policy.training.layout import TaskLayout, load_layout

OBJECTS_KEY = "observation.environment_state"  # as ``cosmos-policy record`` writes it


class DatasetLike(Protocol):
    """What training reads from a dataset (``cosmos_policy.data.lerobot.LeRobotDataset``)."""

    info: dict[str, Any]
    num_episodes: int

    def episode(self, i: int) -> dict[str, Any]: ...


@dataclass
class Episode:
    """One episode at model resolution.

    frames: uint8 (L, V, S, S, 3); state: float32 (L, state_dim); action: float32
    (L, action_dim); prompt: the task; domain: index into the domain table.
    """

    frames: np.ndarray
    state: np.ndarray
    action: np.ndarray
    prompt: str
    domain: int
    latents: np.ndarray | None = None  # float16 (L, V, C, s, s), after the AE phase
    objects: np.ndarray | None = None  # float32 (L, layout.objects_dim); NaN: not recorded
    # float32 (L, K, action_dim): the expert's own chunk from each frame (DAgger data). Such
    # an episode trains the policy mode only: its frames follow the policy's commands, not
    # the actions stored, so they are no example of dynamics.
    chunks: np.ndarray | None = None


def _prompt_of(ep: dict[str, Any], ds: DatasetLike) -> str:
    task = ep.get("task", ep.get("tasks"))
    if isinstance(task, np.ndarray):
        task = task.reshape(-1)[0] if task.size else None
    if isinstance(task, (list, tuple)):
        task = task[0] if task else None
    if isinstance(task, bytes):
        task = task.decode()
    if task is None and "task_index" in ep and hasattr(ds, "tasks"):
        task = ds.tasks[int(np.asarray(ep["task_index"]).reshape(-1)[0])]
    if not isinstance(task, str):
        raise UserError("an episode has no task text; write datasets with "
                        "LeRobotWriter.add_episode(frames, task)")
    return task


def _open(source: str | Path | DatasetLike) -> tuple[str, DatasetLike]:
    if isinstance(source, (str, Path)):
        try:
            from cosmos_policy.data.lerobot import open_dataset
        except ImportError as exc:  # the reader lands separately (docs/CONTRACTS.md)
            raise UserError("the LeRobot reader cosmos_policy.data.lerobot is not available "
                            "in this install; update cosmos-policy") from exc
        return str(source), open_dataset(Path(source))
    return getattr(source, "root", repr(source)), source


def read_episodes(source: str | Path | DatasetLike, config: WAMConfig,
                  layout: TaskLayout | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Decode one dataset into dicts (frames at model size, state, action, prompt, the
    recorded objects of ``layout``, default the shipped suite's); returns (robot_type,
    episodes)."""
    layout = layout or load_layout()
    name, ds = _open(source)
    robot_type = ds.info.get("robot_type")
    if not robot_type:
        raise UserError(f"{name}: meta/info.json has no robot_type; set it to the embodiment")
    out = []
    for i in tqdm(range(ds.num_episodes), desc=f"decode {Path(str(name)).name}", leave=False):
        ep = ds.episode(i)
        keys = [f"observation.images.{cam}" for cam in config.cameras]
        missing = [k for k in keys if k not in ep]
        if missing:
            raise UserError(f"{name}: no video {missing[0]}; the model needs cameras "
                            f"{list(config.cameras)} (dataset has "
                            f"{sorted(k for k in ep if k.startswith('observation.images'))})")
        frames = np.stack([resize_frames(np.asarray(ep[k]), config.image_size) for k in keys],
                          axis=1)
        state = np.asarray(ep["observation.state"], dtype=np.float32)
        action = np.asarray(ep["action"], dtype=np.float32)
        if not len(frames) == len(state) == len(action) or len(frames) < 2:
            raise UserError(f"{name}: episode {i} has {len(frames)} frames, {len(state)} "
                            f"states and {len(action)} actions; they must match (>= 2)")
        objects = _objects_of(ep.get(OBJECTS_KEY), len(frames), layout)
        chunks = None
        if CHUNK_KEY in ep:
            flat = np.asarray(ep[CHUNK_KEY], dtype=np.float32)
            if flat.ndim != 2 or len(flat) != len(action) or flat.shape[1] % action.shape[1]:
                raise UserError(f"{name}: episode {i}: {CHUNK_KEY} of shape {flat.shape} is "
                                f"no whole number of {action.shape[1]}-wide actions per frame")
            chunks = flat.reshape(len(flat), -1, action.shape[1])
        out.append({"frames": frames, "state": state, "action": action,
                    "prompt": _prompt_of(ep, ds), "objects": objects, "chunks": chunks})
    return str(robot_type), out


def _objects_of(value: Any, n_frames: int, layout: TaskLayout) -> np.ndarray | None:
    """``observation.environment_state`` as (n_frames, layout.objects_dim), NaN in the
    fixture part of a cubes-only recording; None for any other layout (not our objects)."""
    if value is None:
        return None
    objects = np.asarray(value, dtype=np.float32)
    if objects.ndim != 2 or len(objects) != n_frames:
        return None
    if objects.shape[1] == layout.cubes_dim:
        pad = np.full((n_frames, layout.objects_dim - layout.cubes_dim), np.nan, np.float32)
        return np.concatenate([objects, pad], 1)
    return objects if objects.shape[1] == layout.objects_dim else None


def domain_stats(name: str, episodes: list[dict[str, Any]],
                 aliases: tuple[str, ...] = ()) -> DomainSpec:
    """Mean and (floored) std of state and action over all frames of a domain."""
    state = np.concatenate([e["state"] for e in episodes])
    action = np.concatenate([e["action"] for e in episodes])
    def floor(x: np.ndarray) -> tuple[float, ...]:
        return tuple(float(v) for v in np.maximum(x, STD_FLOOR))
    return DomainSpec(name=name, state_dim=state.shape[1], action_dim=action.shape[1],
                      state_mean=tuple(float(v) for v in state.mean(0)),
                      state_std=floor(state.std(0)),
                      action_mean=tuple(float(v) for v in action.mean(0)),
                      action_std=floor(action.std(0)), aliases=aliases)


def _aliases(robot_type: str) -> tuple[str, ...]:
    """Embodiment names whose robot_type is this dataset's (so either name finds it)."""
    from cosmos_policy.embodiment import available_embodiments, load_embodiment

    names = []
    for n in available_embodiments():
        try:
            e = load_embodiment(n)
        except UserError:
            continue
        if robot_type in (e.name, e.robot_type) and n != robot_type:
            names.append(n)
    return tuple(names)


#: A frame carries the named cube when the cube's centre is this high (its bottom 5 cm above
#: the table, the cube's half edge 2 cm: benchmarks/carry_probe.py's test) and it is still
#: this far from the plate in x/y (closer is placing).
CARRY_CENTRE_Z_M = 0.07
CARRY_PLATE_CLEAR_M = 0.04


def carry_steps(objects: np.ndarray, plate_at: int) -> np.ndarray:
    """Frame indices of a recording (objects (L, >= plate_at + 3), the named cube first)
    where the named cube is carried: lifted and away from the plate. None where the plate
    was not recorded."""
    cube, plate = objects[:, :3], objects[:, plate_at:plate_at + 3]
    with np.errstate(invalid="ignore"):
        lifted = cube[:, 2] > CARRY_CENTRE_Z_M
        away = np.linalg.norm(cube[:, :2] - plate[:, :2], axis=1) > CARRY_PLATE_CLEAR_M
    return np.flatnonzero(lifted & away & np.isfinite(plate).all(1))


class TrainingData:
    """All episodes of all datasets, the domain table, and batch sampling."""

    def __init__(self, episodes: list[Episode], domains: list[DomainSpec],
                 config: WAMConfig, layout: TaskLayout | None = None) -> None:
        if not episodes:
            raise UserError("no episodes to train on; pass at least one non-empty dataset")
        self.episodes, self.domains, self.config = episodes, domains, config
        self.layout = layout or load_layout()
        lengths = np.array([len(e.frames) for e in episodes])
        self.index = np.concatenate([np.stack([np.full(n, i), np.arange(n)], 1)
                                     for i, n in enumerate(lengths)])
        self.prompts = sorted({e.prompt for e in episodes})
        plate_at = self.layout.fixture_columns.get("plate")
        carried = [carry_steps(e.objects, plate_at)
                   if e.objects is not None and plate_at is not None else np.zeros(0, int)
                   for e in episodes]
        #: (e, t) of every frame that carries the named cube towards the plate
        self.carry_index = np.concatenate([np.stack([np.full(len(t), i), t], 1)
                                           for i, t in enumerate(carried)]
                                          ).astype(self.index.dtype)

    @classmethod
    def build(cls, sources: Sequence[str | Path | DatasetLike], config: WAMConfig,
              domains: list[DomainSpec] | None = None,
              layout: TaskLayout | None = None) -> TrainingData:
        """Read ``sources``; reuse the statistics of domains already in ``domains`` (a loaded
        model's table) and compute them for new ones, which are appended. ``layout``: the
        recorded objects (default: the shipped suite's)."""
        layout = layout or load_layout()
        table = list(domains or [])
        by_robot: dict[str, list[dict[str, Any]]] = {}
        for src in sources:
            robot, eps = read_episodes(src, config, layout)
            by_robot.setdefault(robot, []).extend(eps)
        episodes = []
        for robot, eps in by_robot.items():
            idx = next((i for i, d in enumerate(table) if d.matches(robot)), None)
            if idx is None:
                table.append(domain_stats(robot, eps, _aliases(robot)))
                idx = len(table) - 1
            d = table[idx]
            for e in eps:
                if e["state"].shape[1] != d.state_dim or e["action"].shape[1] != d.action_dim:
                    raise UserError(f"robot_type {robot!r}: state/action widths "
                                    f"{e['state'].shape[1]}/{e['action'].shape[1]} differ "
                                    f"from the domain's {d.state_dim}/{d.action_dim}")
                episodes.append(Episode(e["frames"], e["state"], e["action"], e["prompt"], idx,
                                        objects=e.get("objects"), chunks=e.get("chunks")))
        return cls(episodes, table, config, layout)

    @property
    def num_frames(self) -> int:
        return len(self.index)

    def random_images(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """n random single-camera frames, float (n, 3, S, S) in [0, 1] (autoencoder phase)."""
        picks = self.index[rng.integers(0, len(self.index), n)]
        cams = rng.integers(0, self.config.n_cameras, n)
        imgs = np.stack([self.episodes[e].frames[t, v] for (e, t), v in zip(picks, cams,
                                                                          strict=True)])
        return frames_to_tensor(imgs)

    @torch.no_grad()
    def encode_latents(self, encode: Any, batch: int = 256) -> None:
        """Store every frame's normalised latents: encode (B, V, 3, S, S) -> (B, V, C, s, s)."""
        for ep in tqdm(self.episodes, desc="encode latents", leave=False):
            parts = [encode(frames_to_tensor(ep.frames[i: i + batch]))
                     for i in range(0, len(ep.frames), batch)]
            ep.latents = torch.cat(parts).to(torch.float16).numpy()

    def sample(self, rng: np.random.Generator, n: int, early_fraction: float = 0.0,
               early_steps: int = 8, carry_fraction: float = 0.0) -> dict[str, Any]:
        """n training examples (normalised, padded): latents, future, state, actions,
        action_mask, domain, prompt (list of str), objects (n, layout.objects_dim) with
        objects_mask (same shape; 0 where the dataset did not record that object).
        Needs :meth:`encode_latents` first.

        early_fraction of them start in an episode's first ``early_steps`` frames: where a
        policy decides where to go, which only the prompt and the images can tell (later
        frames can be predicted from the motion so far, and a model may learn only that).
        carry_fraction of them (drawn after those) are frames of :attr:`carry_index`, where a
        pick-and-place policy must move the held cube to the plate: a few frames in each
        episode, the longest moves of the data.
        """
        c = self.config
        picks = self.index[rng.integers(0, len(self.index), n)]
        early = np.flatnonzero(rng.random(n) < early_fraction)
        if len(early):
            eps = rng.integers(0, len(self.episodes), len(early))
            lens = np.array([min(early_steps, len(self.episodes[e].frames)) for e in eps])
            picks = picks.copy()
            picks[early, 0] = eps
            picks[early, 1] = (rng.random(len(early)) * lens).astype(picks.dtype)
        carry = np.flatnonzero(rng.random(n) < carry_fraction)
        if len(carry):
            if not len(self.carry_index):
                raise UserError("carry_fraction > 0, but no frame carries a cube: it needs "
                                "pick_place recordings with observation.environment_state "
                                "holding the plate")
            picks = picks.copy()
            picks[carry] = self.carry_index[rng.integers(0, len(self.carry_index), len(carry))]
        lat, fut, st, act, amask, dom, prompts = [], [], [], [], [], [], []
        obj, omask, policy_only = [], [], []
        for e, t in picks:
            ep = self.episodes[e]
            d = self.domains[ep.domain]
            n_steps = len(ep.frames)
            lat.append(ep.latents[t])
            fut.append(ep.latents[min(t + c.horizon, n_steps - 1)])
            s = np.zeros(c.max_state_dim, np.float32)
            s[: d.state_dim] = (ep.state[t] - d.state_mean) / d.state_std
            if ep.chunks is not None:  # the expert's own chunk from this frame
                own = ep.chunks[t]
                target = own[np.minimum(np.arange(c.chunk), len(own) - 1)]
            else:
                target = ep.action[np.minimum(np.arange(t, t + c.chunk), n_steps - 1)]
            policy_only.append(ep.chunks is not None)
            a = np.zeros((c.chunk, c.max_action_dim), np.float32)
            a[:, : d.action_dim] = (target - d.action_mean) / d.action_std
            m = np.zeros(c.max_action_dim, np.float32)
            m[: d.action_dim] = 1.0
            st.append(s)
            act.append(a)
            amask.append(m)
            dom.append(ep.domain)
            prompts.append(ep.prompt)
            o = np.zeros(self.layout.objects_dim, np.float32)
            om = np.zeros(self.layout.objects_dim, np.float32)
            if ep.objects is not None:  # positions normalised like the action's xyz
                xyz_mean, xyz_std = np.asarray(d.action_mean[:3]), np.asarray(d.action_std[:3])
                o[:] = ((ep.objects[t].reshape(-1, 3) - xyz_mean) / xyz_std).reshape(-1)
                om[:] = np.isfinite(o)
                o[om == 0] = 0.0
            obj.append(o)
            omask.append(om)
        def f32(x: list[np.ndarray]) -> torch.Tensor:
            return torch.from_numpy(np.stack(x).astype(np.float32))
        return {"latents": f32(lat), "future": f32(fut), "state": f32(st), "actions": f32(act),
                "action_mask": f32(amask), "domain": torch.tensor(dom, dtype=torch.long),
                "prompts": prompts, "objects": f32(obj),
                "objects_mask": f32(omask), "policy_only": np.asarray(policy_only, bool)}
