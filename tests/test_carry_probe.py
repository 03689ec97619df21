"""benchmarks/carry_probe.py: which frames count as carrying, and the direction it scores."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_modules import load_benchmark

HALF = 0.02


@pytest.fixture(scope="module")
def probe():
    return load_benchmark("carry_probe")


def frame(tcp, cube, plate=(0.6, 0.2, 0.0), policy_end=None, expert_end=None):
    def chunk(end):
        return None if end is None else [list(tcp), list(end)]
    return {"tcp": tcp, "cube": cube, "plate": plate,
            "policy_chunk": chunk(policy_end), "expert_chunk": chunk(expert_end)}


def test_only_held_lifted_frames_away_from_the_plate_count(probe):
    held = (0.4, 0.0, 0.12)
    frames = [
        frame(held, (0.4, 0.0, 0.10), policy_end=(0.5, 0.1, 0.12), expert_end=(0.5, 0.1, 0.1)),
        frame(held, (0.4, 0.0, HALF), policy_end=(0.5, 0.1, 0.1), expert_end=(0.5, 0.1, 0.1)),
        frame(held, (0.3, 0.0, 0.10), policy_end=(0.5, 0.1, 0.1), expert_end=(0.5, 0.1, 0.1)),
        frame((0.59, 0.2, 0.12), (0.59, 0.2, 0.10), policy_end=(0.6, 0.2, 0.1),
              expert_end=(0.6, 0.2, 0.1)),
        frame(held, (0.4, 0.0, 0.10), policy_end=None, expert_end=(0.5, 0.1, 0.1)),
    ]
    rows = probe.carry_frames(frames, HALF)
    assert len(rows) == 1  # resting cube, cube not in the hand, at the plate, no chunk: out
    assert rows[0]["policy_cos"] == pytest.approx(1.0)
    assert rows[0]["policy_xy_m"] == pytest.approx(np.hypot(0.1, 0.1))
    assert rows[0]["policy_dz_m"] == pytest.approx(0.0)
    assert rows[0]["expert_dz_m"] == pytest.approx(-0.02)


def test_a_chunk_away_from_the_plate_scores_against_it(probe):
    held, cube = (0.4, 0.0, 0.12), (0.4, 0.0, 0.10)
    frames = [frame(held, cube, policy_end=(0.3, -0.1, 0.12), expert_end=(0.5, 0.1, 0.12)),
              frame(held, cube, policy_end=(0.5, -0.1, 0.12), expert_end=(0.5, 0.1, 0.12)),
              frame(held, cube, policy_end=(0.4, 0.0, 0.12), expert_end=(0.5, 0.1, 0.12))]
    rows = probe.carry_frames(frames, HALF)
    assert [round(r["policy_cos"], 6) for r in rows] == [-1.0, 0.0, 0.0]
    summary = probe.summarise(rows)
    assert summary["frames"] == 3
    assert summary["policy"]["towards_share"] == 0.0
    assert summary["expert"]["towards_share"] == 1.0
    assert summary["expert"]["xy_median_cm"] == pytest.approx(100 * np.hypot(0.1, 0.1))
    episodes = [{"carry_frames": 3}, {"carry_frames": 0}]
    row = probe.table({"default": {"summary": summary, "episodes": episodes}})
    assert "| default | 1/2 | 3 | 0% (expert 100%)" in row


def test_the_recorded_carry_reads_the_plate_column_and_skips_frames_without_it():
    """benchmarks/localisation.py's carry on the expert's own states: the same test of a
    carrying frame, on a recording's arrays."""
    loc = load_benchmark("localisation")
    from cosmos_policy.sim.tasks import CUBE_HALF

    n, plate_at = 4, 6
    tcp = np.tile([0.4, 0.0, 0.12], (n, 1))
    objects = np.zeros((n, 9))
    objects[:, :3] = [0.4, 0.0, CUBE_HALF + 0.08]  # held and lifted
    objects[:, 3:6] = [0.9, 0.9, 0.0]  # another object: not the plate
    objects[:, plate_at:] = [0.6, 0.0, 0.0]  # the plate, +x
    objects[3, plate_at:] = np.nan  # not recorded there
    towards = np.tile([[0.5, 0.0, 0.12]], (n, 2, 1))
    away = np.tile([[0.3, 0.0, 0.12]], (n, 2, 1))
    rows = loc.expert_state_carry(tcp, objects, plate_at, away, towards)
    assert len(rows) == 3
    assert all(r["policy_cos"] == pytest.approx(-1.0) for r in rows)
    assert all(r["expert_cos"] == pytest.approx(1.0) for r in rows)
    objects[:, 2] = CUBE_HALF  # resting on the table: nothing carried
    assert loc.expert_state_carry(tcp, objects, plate_at, away, towards) == []


def test_training_and_the_probe_count_the_same_frames_as_carried(probe):
    """train --carry-fraction's carrying frames (training/datacache.py) are the probe's, but
    for the hold test: a lifted cube is in the hand."""
    from cosmos_policy.sim.tasks import CUBE_HALF
    from cosmos_policy.training import datacache

    assert pytest.approx(CUBE_HALF + probe.LIFT_M) == datacache.CARRY_CENTRE_Z_M
    assert datacache.CARRY_PLATE_CLEAR_M == probe.NEAR_PLATE_M


def test_localisation_draws_the_closed_loops_chunks_at_its_noise_scale():
    """``policy_chunks`` at noise 0 is the sampler's deterministic path (the same chunk every
    call); at the closed loop's noise scale each call is a new seeded draw, and the
    generator's seed fixes the draws."""
    import torch
    from model_fakes import TINY as c

    from cosmos_policy.engine.testing import perturbed
    from cosmos_policy.models.network import WorldActionNet

    loc = load_benchmark("localisation")
    torch.manual_seed(0)
    net = perturbed(WorldActionNet(c))
    b = 2
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        kv, key_bias = net.encode_context(
            torch.randn(b, c.n_cameras, c.latent_channels, c.latent_size, c.latent_size,
                        generator=g),
            torch.randn(b, c.max_prompt_tokens, c.text_dim, generator=g),
            torch.ones(b, c.max_prompt_tokens), torch.randn(b, c.max_state_dim, generator=g),
            torch.zeros(b, dtype=torch.long))
        domain = torch.zeros(b, dtype=torch.long)
        mask = np.zeros((b, c.max_action_dim), np.float32)
        mask[:, :7] = 1

        def draw(scale: float, gen: torch.Generator) -> np.ndarray:
            return loc.policy_chunks(net, kv, key_bias, domain, mask, gen,
                                     noise_scale=scale).numpy()

        gen = torch.Generator().manual_seed(0)
        np.testing.assert_array_equal(draw(0.0, gen), draw(0.0, gen))
        gen = torch.Generator().manual_seed(0)
        first, second = draw(0.7, gen), draw(0.7, gen)
        assert np.abs(first - second).max() > 1e-3
        np.testing.assert_array_equal(first, draw(0.7, torch.Generator().manual_seed(0)))
        assert np.all(first[..., 7:] == 0)  # the padding stays masked


def test_over_the_plate_the_probe_asks_whether_the_chunk_sets_the_cube_down(probe):
    from cosmos_policy.sim.scene import PLATE_TOP

    plate = (0.6, 0.2, 0.0)
    over, cube = (0.6, 0.21, 0.15), (0.6, 0.21, 0.13)

    def chunk(tcp, end, grip):
        return [[*tcp, *[0.0] * 6, 1.0], [*end, *[0.0] * 6, grip]]

    frames = [
        # held over the plate: the expert lowers, the policy carries on at height, closed
        {"tcp": over, "cube": cube, "plate": plate, "step": 7,
         "policy_chunk": chunk(over, (0.7, 0.21, 0.15), 1.0),
         "expert_chunk": chunk(over, (0.6, 0.21, 0.08), 1.0)},
        # the same, the policy opens the jaws where it is
        {"tcp": over, "cube": cube, "plate": plate,
         "policy_chunk": chunk(over, over, 0.0), "expert_chunk": chunk(over, over, 0.0)},
        # 3 cm off the centre: still carrying, not placing
        {"tcp": (0.6, 0.23, 0.15), "cube": (0.6, 0.23, 0.13), "plate": plate,
         "policy_chunk": chunk(over, over, 1.0), "expert_chunk": chunk(over, over, 1.0)},
        # set down already (cube on the plate's top)
        {"tcp": (0.6, 0.2, 0.05), "cube": (0.6, 0.2, PLATE_TOP + HALF), "plate": plate,
         "policy_chunk": chunk(over, over, 1.0), "expert_chunk": chunk(over, over, 1.0)},
    ]
    rows = probe.place_frames(frames, HALF, PLATE_TOP)
    assert len(rows) == 2
    assert rows[0]["scene"]["step"] == 7
    assert "policy_chunk" not in rows[0]["scene"]
    assert rows[0]["policy_path_m"] == [list(over), [0.7, 0.21, 0.15]]
    assert [probe.sets_down(r, "policy") for r in rows] == [False, True]
    assert [probe.sets_down(r, "expert") for r in rows] == [True, True]
    summary = probe.summarise([], rows)
    assert summary["over_plate"] == {"frames": 2, "policy_sets_down": 0.5,
                                     "expert_sets_down": 1.0}
    line = probe.table({"m": {"summary": summary, "episodes": [{"carry_frames": 0}]}})
    assert line.endswith("| m | 0/1 | 0 | - | - | - | - | - | 2, 50% (expert 100%) |")


def test_reversals_count_consecutive_moves_that_turn_round(probe):
    def row(step, move):
        return {"scene": {"step": step}, "policy_move_m": [*move, 0.0]}

    rows = [row(0, (0.05, 0.0)), row(1, (-0.05, 0.0)),  # turns round
            row(2, (-0.04, 0.01)),                       # goes on
            row(3, (0.001, 0.0)),                        # too short to have a direction
            row(4, (0.05, 0.0)),
            row(9, (-0.05, 0.0))]                        # not consecutive
    assert probe.reversals(rows) == pytest.approx(0.5)
    assert probe.reversals(rows[:1]) is None


def test_the_probe_runs_its_models_with_the_guidance_it_is_given(probe, tmp_path):
    from cosmos_policy.engine.testing import tiny_bundle
    from cosmos_policy.sim.dagger_rollouts import lockstep_evaluator

    bundle = str(tiny_bundle(tmp_path / "b"))
    ev = lockstep_evaluator(bundle, "pick_place", "franka", backend="torch", image_size=32,
                            seed=0, latency_s=0.05, max_steps=2, guidance=2.5)
    try:
        assert ev.model.model.guidance == 2.5
    finally:
        ev.close()
    with pytest.raises(SystemExit, match=r"guidance must be in \[0, 20\]"):
        probe.main(["--models", bundle, "--episodes", "1", "--guidance", "-1",
                    "--out", str(tmp_path / "p.json")])
