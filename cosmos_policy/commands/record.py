"""``cosmos-policy record``: scripted-expert demonstrations written as a LeRobot v3 dataset.

Only successful episodes are kept; the dataset appears at OUT only when complete.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos_policy.commands import options
from cosmos_policy.data.lerobot import LeRobotWriter
from cosmos_policy.errors import UserError


class _DriftNoise:
    """A smooth random offset of the commanded tcp position (AR(1), stationary std ``std`` m
    per axis, correlation 0.9 per step), so demonstrations visit states off the expert's path
    while their recorded actions lead back to it (DART, Laskey et al. 2017)."""

    RHO = 0.9

    def __init__(self, std: float, seed: int) -> None:
        self.std, self.rng = std, np.random.default_rng([seed, 0xDA27])
        self.offset = self.rng.normal(0.0, std, 3) if std > 0 else np.zeros(3)

    def apply(self, action: np.ndarray) -> np.ndarray:
        if self.std <= 0:
            return action
        self.offset = self.RHO * self.offset + np.sqrt(1 - self.RHO ** 2) * self.rng.normal(
            0.0, self.std, 3)
        out = action.copy()
        out[:3] += self.offset.astype(out.dtype)
        return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("out_pos", nargs="?", type=Path, default=None, metavar="OUT",
                        help=argparse.SUPPRESS)  # the old positional spelling of --out
    options.add_out(parser, "dataset folder to create")
    parser.add_argument("--task", required=True, help="reach, push or pick_place")
    options.add_embodiment(parser)
    parser.add_argument("--episodes", type=int, default=10, help="successful episodes to keep")
    parser.add_argument("--seed", type=int, default=0, help="seed of the first episode")
    options.add_image_size(parser)
    parser.add_argument("--prompt-style", default="canonical",
                        choices=["canonical", "paraphrase", "any"])
    parser.add_argument("--max-attempts", type=int, default=None,
                        help="give up after this many episodes (default 2 x --episodes + 5)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--action-noise", type=float, default=0.0, metavar="M",
                        help="std (m) of a slowly drifting offset added to the executed "
                             "tcp position, not to the recorded action (DART-style "
                             "demonstrations of recovery; ee_pose actions only)")
    parser.add_argument("--hold-steps", type=int, default=0, metavar="N",
                        help="keep recording the expert N steps after success (default 0: "
                             "stop at success); a reach demonstration that stops where the "
                             "success distance is first crossed teaches a policy to stop "
                             "there too")


def record(out: Path, task: str, embodiment: str, episodes: int, *, seed: int = 0,
           image_size: int = 128, prompt_style: str = "canonical",
           max_attempts: int | None = None, overwrite: bool = False,
           progress: bool = True, action_noise: float = 0.0,
           hold_steps: int = 0) -> dict[str, int]:
    """Record ``episodes`` successful expert episodes into a LeRobot v3 dataset at ``out``.

    Per frame: every camera (uint8 (S, S, 3), S = image_size), ``observation.state``
    (n_joints + 1,), ``observation.ee_pose`` (9,), ``observation.environment_state`` (18,:
    target cube, red, green, blue, region, plate positions) and ``action``, the unified (10,) target
    the expert commanded; with ``hold_steps`` the expert goes on that many steps after the
    first success (recorded too). Episodes that do not succeed are dropped, and so are those
    the simulator aborts (``mujoco.FatalError``; their seeds are kept in the provenance).
    Returns counts ``{"kept", "dropped", "sim_errors"}``.
    """
    import mujoco

    from cosmos_policy.sim import make_env, make_expert
    from cosmos_policy.sim.dagger import dataset_features
    from cosmos_policy.sim.tasks import make_task

    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if not 0.0 <= action_noise <= 0.1:
        raise UserError(f"--action-noise must be between 0 and 0.1 m, got {action_noise}")
    if not 0 <= hold_steps <= 1000:
        raise UserError(f"--hold-steps must be between 0 and 1000, got {hold_steps}")
    if image_size < 16 or image_size % 2:
        raise UserError(f"--image-size must be an even number >= 16 (H.264 with yuv420p), "
                        f"got {image_size}")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; choose another folder or pass --overwrite")
    make_task(task)  # an unknown task fails here, before a scene is built
    env = make_env(task, embodiment, image_size=image_size, prompt_style=prompt_style)
    emb = env.unwrapped.embodiment
    fps = int(round(emb.control_rate_hz))
    features, cameras, read_objects = dataset_features(env)  # the layout DAgger writes too
    if action_noise and int(env.action_space.shape[0]) != 10:
        env.close()
        raise UserError("--action-noise perturbs end-effector targets; this env takes joint "
                        "actions")
    seeds: list[int] = []
    provenance = {"task": task, "embodiment": emb.name, "source": "scripted expert",
                  "prompt_style": prompt_style, "seeds": seeds, "action_noise_m": action_noise,
                  "hold_steps": hold_steps}
    try:
        if fps != emb.control_rate_hz:
            raise UserError(f"{emb.name}: control.rate_hz {emb.control_rate_hz} is not a whole "
                            "number of frames per second, which LeRobot datasets need")
        writer = LeRobotWriter(out, fps=fps, robot_type=emb.robot_type, features=features,
                               overwrite=overwrite, extra_info={"cosmos_policy": provenance})
    except BaseException:
        env.close()
        raise
    expert = make_expert(env)
    attempts = max_attempts or 2 * episodes + 5
    kept = dropped = 0
    sim_errors: list[str] = provenance.setdefault("sim_errors", [])  # episodes MuJoCo aborted
    bar = tqdm(total=episodes, desc=f"record {task}/{emb.name}", unit="ep", disable=not progress)
    try:
        for k in range(attempts):
            if kept == episodes:
                break
            obs, info = env.reset(seed=seed + k)
            prompt = obs["prompt"]
            expert.reset()
            rows: dict[str, list[np.ndarray]] = {key: [] for key in features}
            done, success, left = False, False, None  # left: steps still to record after success
            noise = _DriftNoise(action_noise, seed + k)
            try:
                while not done:
                    action = np.asarray(expert.act(obs), dtype=np.float32)
                    for c in cameras:
                        rows[f"observation.images.{c}"].append(obs["images"][c])
                    rows["observation.state"].append(obs["state"])
                    rows["observation.ee_pose"].append(obs["ee_pose"])
                    if read_objects is not None:
                        rows["observation.environment_state"].append(read_objects())
                    rows["action"].append(action)  # the expert's, the label: back to its path
                    obs, _, terminated, truncated, info = env.step(noise.apply(action))
                    success = success or bool(info.get("is_success"))
                    if success and left is None:
                        left = hold_steps
                    if left is None:
                        done = terminated or truncated
                    else:
                        done, left = left == 0, left - 1
            except mujoco.FatalError as err:  # the physics gave up on this episode: drop it
                success = False
                sim_errors.append(f"seed {seed + k}: {err}")
                bar.write(f"record: seed {seed + k} dropped, the simulator stopped: {err}")
            if success:
                writer.add_episode({key: np.stack(v) for key, v in rows.items()}, prompt)
                seeds.append(seed + k)
                kept += 1
                bar.update(1)
            else:
                dropped += 1
                bar.set_postfix(dropped=dropped)
        if kept < episodes:
            raise UserError(f"only {kept} of {episodes} episodes succeeded in {attempts} "
                            "attempts; raise --max-attempts")
        writer.finalize()
    except BaseException:
        writer.abort()
        raise
    finally:
        bar.close()
        env.close()
    return {"kept": kept, "dropped": dropped, "sim_errors": len(sim_errors)}


def run(args: argparse.Namespace) -> int:
    out = options.one_out(args)
    result = record(out, args.task, options.embodiment(args), args.episodes, seed=args.seed,
                    image_size=args.image_size, prompt_style=args.prompt_style,
                    max_attempts=args.max_attempts, overwrite=args.overwrite,
                    action_noise=args.action_noise, hold_steps=args.hold_steps)
    aborted = (f", {result['sim_errors']} of them aborted by the simulator"
               if result["sim_errors"] else "")
    print(f"wrote {result['kept']} episodes to {out} "
          f"({result['dropped']} unsuccessful episodes dropped{aborted})")
    return 0
