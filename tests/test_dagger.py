"""DAgger at a tiny scale: a random tiny model rolled out through the eval runtime, every
visited state labelled by the expert from that state, a round that grows the data and
fine-tunes, and the per-round table."""

from __future__ import annotations

import json
from pathlib import Path

import mujoco
import numpy as np
import pytest

from cosmos_policy.data.lerobot_reader import open_dataset
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.errors import UserError
from cosmos_policy.kinematics import KinematicModel
from cosmos_policy.sim import make_env, make_expert
from cosmos_policy.sim.dagger import DaggerConfig, rollout_dataset, run_dagger

SEEDS = [50000, 50001]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_bundle(tmp_path_factory.mktemp("model") / "bundle")


def test_labels_are_the_experts_action_from_each_visited_state(bundle: Path,
                                                               tmp_path: Path) -> None:
    visited: list[tuple] = []

    def on_frame(env, label: np.ndarray, command: np.ndarray) -> None:  # noqa: ANN001
        d = env.scene.data
        visited.append((d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), env._q_target.copy(),  # noqa: SLF001
                        label.copy(), command.copy()))

    stats = rollout_dataset(str(bundle), "reach", "franka", SEEDS, tmp_path / "data",
                            image_size=32, max_steps=10, on_frame=on_frame)
    ds = open_dataset(tmp_path / "data")
    assert ds.num_episodes == stats.episodes == 2
    actions = np.concatenate([ds.episode(i)["action"] for i in range(ds.num_episodes)])
    assert len(actions) == len(visited) == stats.frames == 20
    np.testing.assert_allclose(actions, np.stack([v[4] for v in visited]), atol=1e-6)
    # Replay every visited state into another env: a fresh expert gives the stored label.
    twin = make_env("reach", "franka", cameras=())
    fk = KinematicModel(twin.unwrapped.embodiment)
    fresh = make_expert(twin)
    policy_gap = []
    try:
        for i, (qpos, qvel, ctrl, q_target, label, command) in enumerate(visited):
            twin.reset(seed=SEEDS[i // 10])
            d = twin.unwrapped.scene.data
            d.qpos[:], d.qvel[:], d.ctrl[:] = qpos, qvel, ctrl
            twin.unwrapped._q_target = q_target  # noqa: SLF001
            mujoco.mj_forward(twin.unwrapped.scene.model, d)
            fresh.reset()  # no history: it answers from the restored state alone
            # 1 mm: in the loop the site positions lag qpos by the last physics substep
            # (mj_step integrates after computing them); the replay recomputes them
            np.testing.assert_allclose(fresh.label(None), label, atol=1e-3)
            policy_gap.append(float(np.linalg.norm(fk.fk(command[:-1])[0] - label[:3])))
    finally:
        twin.close()
    # ... and not the policy's own command (a random model goes elsewhere)
    assert np.median(policy_gap) > 0.005, policy_gap


def test_rollouts_refuse_seeds_outside_the_training_split(bundle: Path, tmp_path: Path) -> None:
    with pytest.raises(UserError, match="training seeds only"):
        rollout_dataset(str(bundle), "reach", "franka", [900, 901], tmp_path / "d",
                        image_size=32, max_steps=2)
    with pytest.raises(UserError, match="training seeds only"):  # before round 0 validates
        run_dagger(DaggerConfig(tasks=("reach",), embodiments=("franka",), model=str(bundle),
                                seed=998, episodes=2), tmp_path / "campaign")
    assert not (tmp_path / "campaign").exists()


def test_rounds_grow_the_data_fine_tune_and_write_the_table(bundle: Path,
                                                            tmp_path: Path) -> None:
    cfg = DaggerConfig(tasks=("reach",), embodiments=("franka",), model=str(bundle), rounds=2,
                       episodes=2, train_steps=2, batch=2, val_episodes=1, val_max_steps=3,
                       max_steps=6, image_size=32)
    lines: list[str] = []
    rows = run_dagger(cfg, tmp_path / "dagger", progress=lines.append)
    assert sum(line.startswith("validation reach/franka") for line in lines) == 3
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert [r["aggregated_episodes"] for r in rows] == [0, 2, 4]
    assert rows[1]["frames_added"] == 12
    assert rows[2]["model"] != rows[1]["model"] != str(bundle)
    assert (Path(rows[2]["model"]) / "manifest.json").is_file()
    # round 2 rolled out round 1's model and trained on both rounds' data
    info = json.loads((tmp_path / "dagger/round-2/data-reach-franka/meta/info.json").read_text())
    assert info["cosmos_policy"]["policy"] == rows[1]["model"]
    for row in rows:
        assert row["validation"]["reach/franka"]["episodes"] == 1
        assert row["validation"]["reach/franka"]["seeds"] == [0, 0]  # the validation split
    table = (tmp_path / "dagger/dagger.md").read_text().splitlines()
    assert len(table) == 2 + 3
    assert "reach/franka (validation)" in table[0]
    saved = json.loads((tmp_path / "dagger/dagger.json").read_text())
    assert len(saved["rounds"]) == 3


def test_a_campaign_resumes_in_parallel_with_the_training_recipe(bundle: Path,
                                                                  tmp_path: Path) -> None:
    from cosmos_policy.sim.dagger import _train_config

    cfg = DaggerConfig(tasks=("reach",), embodiments=("franka", "ur5e"), model=str(bundle),
                       rounds=1, episodes=1, train_steps=2, batch=2, val_episodes=1,
                       val_max_steps=2, max_steps=4, image_size=32, workers=2,
                       object_weight=5.0, early_fraction=0.3, paraphrase_prob=0.5)
    # (a carry share needs pick_place recordings: this reach campaign runs without one)
    train = _train_config(DaggerConfig(**{**cfg.__dict__, "carry_fraction": 0.25}), 1)
    assert (train.object_weight, train.early_fraction, train.carry_fraction,
            train.paraphrase_prob) == (5.0, 0.3, 0.25, 0.5)
    assert train.prompt_variants  # the suite's training templates, as `train` passes them
    out = tmp_path / "campaign"
    first = run_dagger(cfg, out)
    # rolled out in two processes: both cells written, in cell order
    assert first[1]["rollout_success"].keys() == {"reach/franka", "reach/ur5e"}
    assert first[1]["episodes_added"] == 2
    # a later round begun and cut short (a crash) leaves a folder the table never names
    (out / "round-2" / "data-reach-franka").mkdir(parents=True)
    (out / "round-2" / "junk").write_text("half a round")
    more = DaggerConfig(**{**cfg.__dict__, "rounds": 2})
    lines: list[str] = []
    rows = run_dagger(more, out, resume=True, progress=lines.append)
    assert lines[0].startswith("resuming after round 1")
    assert not any(line.startswith("validation") and "(" + str(bundle) in line for line in lines)
    assert rows[:2] == json.loads(json.dumps(first))  # rounds 0 and 1 kept, not re-run
    assert [r["round"] for r in rows] == [0, 1, 2]
    assert rows[2]["aggregated_episodes"] == 4
    assert not (out / "round-2" / "junk").exists()
    info = json.loads((out / "round-2/data-reach-ur5e/meta/info.json").read_text())
    assert info["cosmos_policy"]["policy"] == rows[1]["model"]
    assert "[" in (out / "dagger.md").read_text().splitlines()[2]  # Wilson intervals
    with pytest.raises(UserError, match="other settings.*lr"):
        run_dagger(DaggerConfig(**{**more.__dict__, "lr": 1e-3}), out, resume=True)


def test_every_frame_holds_the_experts_own_chunk_and_the_rollout_is_untouched(
        bundle: Path, tmp_path: Path) -> None:
    from cosmos_policy.data.layout import CHUNK_KEY

    kw = {"image_size": 32, "max_steps": 12}
    plain = rollout_dataset(str(bundle), "push", "franka", SEEDS[:1], tmp_path / "plain", **kw)
    stats = rollout_dataset(str(bundle), "push", "franka", SEEDS[:1], tmp_path / "chunks",
                            chunk=4, **kw)
    assert stats.frames == plain.frames == 12
    a, b = open_dataset(tmp_path / "plain").episode(0), open_dataset(tmp_path / "chunks").episode(0)
    # the expert's look-ahead put the simulator back exactly: the same policy path and labels
    np.testing.assert_array_equal(np.asarray(a["observation.state"]),
                                  np.asarray(b["observation.state"]))
    np.testing.assert_array_equal(np.asarray(a["action"]), np.asarray(b["action"]))
    chunks = np.asarray(b[CHUNK_KEY]).reshape(12, 4, 10)
    np.testing.assert_array_equal(chunks[:, 0], np.asarray(b["action"]))
    # the expert drives on: its commanded tcp moves at most its top speed per step ...
    from cosmos_policy.sim.experts import ExpertConfig

    step = np.linalg.norm(np.diff(chunks[:, :, :3], axis=1), axis=2)
    assert step.max() <= ExpertConfig().fast / 10 + 1e-4, step.max()  # 10 Hz
    assert step.max() > 0.002, step.max()
    # ... and its chunk is not the labels of the states the (random) policy went on to
    path = np.asarray(b["action"])
    gap = [np.linalg.norm(chunks[t, 3, :3] - path[t + 3, :3]) for t in range(12 - 3)]
    assert max(gap) > 0.005, gap


def test_expert_chunks_are_the_policy_targets_of_dagger_frames_only(bundle: Path,
                                                                     tmp_path: Path) -> None:
    from cosmos_policy.data.layout import CHUNK_KEY
    from cosmos_policy.models.flow import Mode
    from cosmos_policy.training.trainer import TrainConfig, Trainer

    rollout_dataset(str(bundle), "reach", "franka", SEEDS[:1], tmp_path / "dagger",
                    image_size=32, max_steps=6, chunk=8)
    rollout_dataset(str(bundle), "reach", "franka", SEEDS[1:], tmp_path / "plain",
                    image_size=32, max_steps=6)
    trainer = Trainer([str(tmp_path / "dagger"), str(tmp_path / "plain")], tmp_path / "m",
                      cfg=TrainConfig(steps=1, batch=64, mode_probs=(0.0, 0.5, 0.5)),
                      init=str(bundle))
    data = trainer.data
    for ep in data.episodes:
        ep.latents = np.zeros((len(ep.frames), 1), np.float16)
    batch = data.sample(np.random.default_rng(0), 64)
    d = data.domains[0]
    own = np.asarray(open_dataset(tmp_path / "dagger").episode(0)[CHUNK_KEY]).reshape(6, 8, 10)
    k = trainer.net.config.chunk  # a longer stored chunk is cut to the model's
    assert k < 8
    expected = (own[:, :k] - np.asarray(d.action_mean)) / np.asarray(d.action_std)
    assert 0 < batch["policy_only"].sum() < 64
    got = batch["actions"].numpy()[batch["policy_only"], :, :10]
    assert all(any(np.allclose(g, e, atol=1e-5) for e in expected) for g in got)
    plain = batch["actions"].numpy()[~batch["policy_only"], :, :10]
    assert not any(np.allclose(g, e, atol=1e-5) for g in plain for e in expected)
    # the trainer never draws dynamics modes for them
    flow, b = trainer._wam_batch()  # noqa: SLF001
    mode = flow.mode.numpy()
    assert (mode[b["policy_only"]] == Mode.POLICY).all()
    assert (mode[~b["policy_only"]] != Mode.POLICY).all()


@pytest.mark.parametrize(("labels", "feedback"), [("tolerant", "command"),
                                                 ("strict", "state")])
def test_label_settings_reach_the_expert_that_labels_the_rollouts(
        bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, labels: str,
        feedback: str) -> None:
    """``labels="tolerant"`` or ``feedback="state"``: the rollouts are labelled by that
    expert, every stored label is its answer from that state, and the dataset says so; an
    unknown name is refused before any rollout."""
    from cosmos_policy.sim import dagger_rollouts
    from cosmos_policy.sim.experts import label_config

    configs = []

    class Tap(dagger_rollouts.LabelTap):
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            super().__init__(*args, **kwargs)
            configs.append(self.expert.cfg)

    monkeypatch.setattr(dagger_rollouts, "LabelTap", Tap)

    visited: list[tuple] = []

    def on_frame(env, label: np.ndarray, command: np.ndarray) -> None:  # noqa: ANN001
        d = env.scene.data
        visited.append((d.qpos.copy(), d.qvel.copy(), d.ctrl.copy(), env._q_target.copy(),  # noqa: SLF001
                        label.copy()))

    rollout_dataset(str(bundle), "push", "franka", SEEDS[:1], tmp_path / "data",
                    image_size=32, max_steps=8, on_frame=on_frame, labels=labels,
                    feedback=feedback)
    assert configs == [label_config(labels, feedback)] != [label_config("strict")]
    info = json.loads((tmp_path / "data/meta/info.json").read_text())
    assert (info["cosmos_policy"]["labels"], info["cosmos_policy"]["feedback"]) == (labels,
                                                                                    feedback)
    twin = make_env("push", "franka", cameras=())
    try:
        expert = make_expert(twin, label_config(labels, feedback))
        for qpos, qvel, ctrl, q_target, label in visited:
            twin.reset(seed=SEEDS[0])
            d = twin.unwrapped.scene.data
            d.qpos[:], d.qvel[:], d.ctrl[:] = qpos, qvel, ctrl
            twin.unwrapped._q_target = q_target  # noqa: SLF001
            mujoco.mj_forward(twin.unwrapped.scene.model, d)
            expert.reset()
            np.testing.assert_allclose(expert.label(None), label, atol=1e-3)
    finally:
        twin.close()
    with pytest.raises(UserError, match="label tolerance"):
        DaggerConfig(tasks=("push",), embodiments=("franka",), labels="loose")
    with pytest.raises(UserError, match="feedback"):
        DaggerConfig(tasks=("push",), embodiments=("franka",), feedback="velocity")


def test_a_campaign_from_before_the_label_setting_resumes(bundle: Path, tmp_path: Path) -> None:
    """A dagger.json written before ``labels`` existed ran with strict labels: it resumes with
    them and is refused with tolerant ones."""
    from cosmos_policy.sim.dagger import _resumable_rows

    cfg = DaggerConfig(tasks=("reach",), embodiments=("franka",), model=str(bundle))
    saved = json.loads(json.dumps(cfg.__dict__, default=str))
    del saved["labels"]
    (tmp_path / "dagger.json").write_text(json.dumps({"config": saved, "rounds": [{"round": 0}]}))
    assert _resumable_rows(tmp_path, cfg) == [{"round": 0}]
    with pytest.raises(UserError, match="other settings.*labels"):
        _resumable_rows(tmp_path, DaggerConfig(**{**cfg.__dict__, "labels": "tolerant"}))
    del saved["feedback"]  # nor feedback: command
    (tmp_path / "dagger.json").write_text(json.dumps({"config": saved, "rounds": [{"round": 0}]}))
    assert _resumable_rows(tmp_path, cfg) == [{"round": 0}]
    with pytest.raises(UserError, match="other settings.*feedback"):
        _resumable_rows(tmp_path, DaggerConfig(**{**cfg.__dict__, "feedback": "state"}))


def test_the_cli_offers_exactly_the_experts_label_modes() -> None:
    """``--labels`` and ``--feedback`` keep their choices literal so the parser does not import
    the simulator; they must stay the ones :func:`experts.label_config` accepts."""
    import argparse

    from cosmos_policy.commands import dagger as dagger_cmd
    from cosmos_policy.sim import experts

    parser = argparse.ArgumentParser()
    dagger_cmd.add_arguments(parser)
    (action,) = [a for a in parser._actions if a.dest == "labels"]
    assert tuple(action.choices) == experts.LABELS
    (action,) = [a for a in parser._actions if a.dest == "feedback"]
    assert tuple(action.choices) == experts.FEEDBACK


def test_dagger_takes_the_carry_fraction_as_train_does(tmp_path: Path) -> None:
    """``--carry-fraction`` is part of the shared recipe: parsed by ``dagger``, checked at its
    boundary like ``train``'s other shares."""
    import argparse

    from cosmos_policy.commands import dagger as dagger_cmd

    parser = argparse.ArgumentParser()
    dagger_cmd.add_arguments(parser)
    args = parser.parse_args(["--task", "pick_place", "--embodiment", "franka",
                              "--out", str(tmp_path / "c"), "--carry-fraction", "0.25"])
    assert args.carry_fraction == 0.25
    with pytest.raises(UserError, match="--carry-fraction must be in"):
        DaggerConfig(tasks=("pick_place",), embodiments=("franka",), carry_fraction=1.5)
