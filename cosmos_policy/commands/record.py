"""``cosmos-policy record``: scripted-expert demonstrations written as a LeRobot v3 dataset.

Only successful episodes are kept; the dataset appears at OUT only when complete. The run is
resumable: every attempt (seed) ends in a shard under ``OUT.partial/episodes/`` (its frames
if it succeeded), written atomically (:mod:`cosmos_policy.data.shards`), and the dataset is
assembled from the shards at the end. A run killed or stopped by a full disk keeps its
shards; the same command again replays them and simulates only the rest, so the dataset
equals an uninterrupted run's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from cosmos_policy import __version__
from cosmos_policy.commands import options
from cosmos_policy.data import shards
from cosmos_policy.data.atomic import disk_full, is_disk_full
from cosmos_policy.data.lerobot import LeRobotWriter, partial_path
from cosmos_policy.errors import UserError

_FRAMES = "frames.npz"
FEEDBACK = ("plan", "state")  # record --feedback


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
    parser.add_argument("--restart", action="store_true",
                        help="discard the episodes an interrupted run left in OUT.partial "
                             "instead of resuming from them")
    parser.add_argument("--action-noise", type=float, default=0.0, metavar="M",
                        help="std (m) of a slowly drifting offset added to the executed "
                             "tcp position, not to the recorded action (DART-style "
                             "demonstrations of recovery; ee_pose actions only)")
    parser.add_argument("--hold-steps", type=int, default=0, metavar="N",
                        help="keep recording the expert N steps after success (default 0: "
                             "stop at success); a reach demonstration that stops where the "
                             "success distance is first crossed teaches a policy to stop "
                             "there too")
    parser.add_argument("--feedback", choices=list(FEEDBACK), default="plan",
                        help="plan: the expert follows its own plan (its commands lead the "
                             "arm by its velocity); state: every action is the expert's answer "
                             "from the measured state (joint positions, no velocity), at the "
                             "speed its profile has there: labels a model that sees no "
                             "velocity can reproduce (slower; no --action-noise with it: the "
                             "drift spoils most episodes)")


def record(out: Path, task: str, embodiment: str, episodes: int, *, seed: int = 0,
           image_size: int = 128, prompt_style: str = "canonical",
           max_attempts: int | None = None, overwrite: bool = False,
           progress: bool = True, action_noise: float = 0.0,
           hold_steps: int = 0, restart: bool = False,
           feedback: str = "plan") -> dict[str, int]:
    """Record ``episodes`` successful expert episodes into a LeRobot v3 dataset at ``out``.

    Per frame: every camera (uint8 (S, S, 3), S = image_size), ``observation.state``
    (n_joints + 1,), ``observation.ee_pose`` (9,), ``observation.environment_state`` (18,:
    target cube, red, green, blue, region, plate positions) and ``action``, the unified (10,) target
    the expert commanded; with ``hold_steps`` the expert goes on that many steps after the
    first success (recorded too). ``feedback``: ``plan``, the expert drives on its own
    commands (:meth:`~cosmos_policy.sim.experts.Expert.act`), or ``state``, every action is its
    answer from the measured state (:meth:`~cosmos_policy.sim.experts.Expert.label` with
    ``feedback="state"``). Episodes that do not succeed are dropped, and so are those
    the simulator aborts (``mujoco.FatalError``; their seeds are kept in the provenance).
    Returns counts ``{"kept", "dropped", "sim_errors"}``.

    Resumes from the shards an interrupted run with the same settings left in
    ``OUT.partial`` (``restart`` discards them); ``episodes`` and ``max_attempts`` may differ
    on a resume, since attempt k is seed ``seed + k`` whatever came before it.
    """
    from cosmos_policy.sim import make_env
    from cosmos_policy.sim.dagger_rollouts import dataset_features
    from cosmos_policy.sim.tasks import make_task

    if episodes < 1:
        raise UserError("--episodes must be at least 1")
    if feedback not in FEEDBACK:
        raise UserError(f"--feedback must be one of {', '.join(FEEDBACK)}, got {feedback!r}")
    if not 0.0 <= action_noise <= 0.1:
        raise UserError(f"--action-noise must be between 0 and 0.1 m, got {action_noise}")
    if not 0 <= hold_steps <= 1000:
        raise UserError(f"--hold-steps must be between 0 and 1000, got {hold_steps}")
    if image_size < 16 or image_size % 2:
        raise UserError(f"--image-size must be an even number >= 16 (H.264 with yuv420p), "
                        f"got {image_size}")
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; choose another folder or pass --overwrite")
    work = partial_path(out)
    make_task(task)  # an unknown task fails here, before a scene is built
    env = make_env(task, embodiment, image_size=image_size, prompt_style=prompt_style)
    emb = env.unwrapped.embodiment
    fps = int(round(emb.control_rate_hz))
    features, cameras, read_objects = dataset_features(env)  # the layout DAgger writes too
    if action_noise and int(env.action_space.shape[0]) != 10:
        env.close()
        raise UserError("--action-noise perturbs end-effector targets; this env takes joint "
                        "actions")
    identity = {"task": task, "embodiment": emb.name, "seed": seed, "image_size": image_size,
                "prompt_style": prompt_style, "action_noise_m": action_noise,
                "hold_steps": hold_steps, "version": __version__,
                **({"feedback": feedback} if feedback != "plan" else {})}
    try:
        if fps != emb.control_rate_hz:
            raise UserError(f"{emb.name}: control.rate_hz {emb.control_rate_hz} is not a whole "
                            "number of frames per second, which LeRobot datasets need")
        if restart:
            shutil.rmtree(work, ignore_errors=True)
        with disk_full(work, "record"):
            if shards.check_run(work, identity):
                print(f"record: resuming the run in {work} "
                      f"({len(shards.finished(work))} finished attempt(s) reused)",
                      file=sys.stderr)
    except BaseException:
        env.close()
        raise
    attempts = max_attempts or 2 * episodes + 5
    bar = tqdm(total=episodes, desc=f"record {task}/{emb.name}", unit="ep", disable=not progress)
    try:
        with disk_full(work, "record"):
            kept, sim_errors = _attempts(env, work, features, cameras, read_objects, seed,
                                         episodes, attempts, action_noise, hold_steps, bar,
                                         feedback)
            if len(kept) < episodes:
                raise UserError(f"only {len(kept)} of {episodes} episodes succeeded in "
                                f"{attempts} attempts; raise --max-attempts")
            provenance = {"task": task, "embodiment": emb.name, "source": "scripted expert",
                          "prompt_style": prompt_style, "seeds": kept,
                          "action_noise_m": action_noise, "hold_steps": hold_steps,
                          "feedback": feedback, "sim_errors": sim_errors}
            _assemble(work, out, kept, fps=fps, robot_type=emb.robot_type, features=features,
                      overwrite=overwrite, provenance=provenance)
    except BaseException as exc:
        _after_failure(work, exc)
        raise
    finally:
        bar.close()
        env.close()
    shutil.rmtree(work, ignore_errors=True)
    tried = (kept[-1] - seed + 1) if kept else 0
    return {"kept": len(kept), "dropped": tried - len(kept), "sim_errors": len(sim_errors)}


def _name(seed: int) -> str:
    return f"seed-{seed}"


def _attempts(env, work: Path, features: dict, cameras: list[str], read_objects,  # noqa: ANN001
              seed: int, episodes: int, attempts: int, action_noise: float, hold_steps: int,
              bar: tqdm, feedback: str = "plan") -> tuple[list[int], list[str]]:
    """Run (or take from a finished shard) attempt after attempt until ``episodes`` succeed.

    Each attempt's outcome is a shard, a success with its frames, a failure with none, so a
    rerun replays finished attempts from disk and simulates only the rest. Returns the kept
    seeds and the simulator's errors, in attempt order.
    """
    import mujoco

    from cosmos_policy.sim import make_expert
    from cosmos_policy.sim.experts import ExpertConfig

    expert = make_expert(env, ExpertConfig(feedback="state") if feedback == "state" else None)
    done = shards.finished(work)
    kept: list[int] = []
    sim_errors: list[str] = []  # episodes MuJoCo aborted
    for k in range(attempts):
        if len(kept) == episodes:
            break
        name = _name(seed + k)
        if name in done:
            meta = shards.read_meta(work, name)
        else:
            meta, rows = _simulate(env, expert, seed + k, features, cameras, read_objects,
                                   action_noise, hold_steps, mujoco.FatalError)
            if meta.get("sim_error"):
                bar.write(f"record: seed {seed + k} dropped, the simulator stopped: "
                          f"{meta['sim_error']}")
            # compressed: rendered frames shrink about 6x for 4 ms a 128 px frame
            shards.write_shard(work, name, rows, meta, file=_FRAMES, compress=True)
        if meta.get("sim_error"):
            sim_errors.append(f"seed {seed + k}: {meta['sim_error']}")
        if meta["success"]:
            kept.append(seed + k)
            bar.update(1)
        else:
            bar.set_postfix(dropped=k + 1 - len(kept))
    return kept, sim_errors
def _simulate(env, expert, seed: int, features: dict, cameras: list[str],  # noqa: ANN001
              read_objects, action_noise: float, hold_steps: int,  # noqa: ANN001
              fatal: type[BaseException]) -> tuple[dict, dict[str, np.ndarray]]:
    """One attempt: its meta (prompt, success, simulator error) and, if it succeeded, its
    frames (feature -> (T, ...) rows); the expert drives (``Expert.drive``)."""
    obs, info = env.reset(seed=seed)
    prompt = obs["prompt"]
    expert.reset()
    rows: dict[str, list[np.ndarray]] = {key: [] for key in features}
    done, success, left = False, False, None  # left: steps still to record after success
    noise = _DriftNoise(action_noise, seed)
    meta: dict = {"prompt": prompt}
    try:
        while not done:
            action = np.asarray(expert.drive(obs), dtype=np.float32)
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
    except fatal as err:  # the physics gave up on this episode: drop it
        success = False
        meta["sim_error"] = str(err)
    meta["success"] = success
    return meta, ({key: np.stack(v) for key, v in rows.items()} if success else {})


def _assemble(work: Path, out: Path, kept: list[int], *, fps: int, robot_type: str,
              features: dict, overwrite: bool, provenance: dict) -> None:
    """Write the dataset from the kept shards, in attempt order, and move it to ``out``."""
    writer = LeRobotWriter(out, fps=fps, robot_type=robot_type, features=features,
                           overwrite=overwrite, extra_info={"cosmos_policy": provenance},
                           staging=work / "dataset")
    try:
        for s in kept:
            rows, meta = shards.read_shard(work, _name(s), file=_FRAMES)
            writer.add_episode(rows, meta["prompt"])
        writer.finalize()
    except BaseException:
        writer.abort()
        raise


def _after_failure(work: Path, exc: BaseException) -> None:
    """Keep ``work`` if it holds finished attempts (and say how to resume), else remove it."""
    saved = len(shards.finished(work))
    if saved == 0:
        shutil.rmtree(work, ignore_errors=True)
        return
    free = " after freeing space" if is_disk_full(exc) else ""
    note = (f"{saved} finished attempt(s) are kept in {work}: rerun the same command{free} "
            "to resume, or pass --restart to start over")
    if isinstance(exc, UserError):
        exc.args = (f"{exc}; {note}",)
    else:
        print(f"record stopped: {note}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    out = options.one_out(args)
    result = record(out, args.task, options.embodiment(args), args.episodes, seed=args.seed,
                    image_size=args.image_size, prompt_style=args.prompt_style,
                    max_attempts=args.max_attempts, overwrite=args.overwrite,
                    action_noise=args.action_noise, hold_steps=args.hold_steps,
                    restart=args.restart, feedback=args.feedback)
    aborted = (f", {result['sim_errors']} of them aborted by the simulator"
               if result["sim_errors"] else "")
    print(f"wrote {result['kept']} episodes to {out} "
          f"({result['dropped']} unsuccessful episodes dropped{aborted})")
    return 0
