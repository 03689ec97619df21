"""benchmarks/velocity_lead.py: how much of the first action's lead the last step's motion
explains, on the frames it should read."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_modules import load_benchmark

HALF = 0.02


@pytest.fixture(scope="module")
def lead():
    return load_benchmark("velocity_lead")


def test_a_lead_that_is_the_motion_is_explained_and_noise_is_not(lead):
    rng = np.random.default_rng(0)
    n = 400
    tcp = np.cumsum(rng.normal(0, 0.01, (n, 3)), axis=0)
    episode = np.repeat([0, 1], n // 2)
    motion = np.vstack([np.zeros((1, 3)), np.diff(tcp, axis=0)])
    target = tcp + [0.0, 0.0, -0.01]  # the cube in the hand...
    target[:, 2] = np.where(np.arange(n) % 2 == 0, HALF + 0.08, HALF)  # ...lifted every other
    follows = tcp + 2.0 * motion  # the command leads by twice the last step's motion
    m, ld = lead.lead_frames(tcp, np.c_[follows, np.zeros((n, 7))], target, episode, HALF,
                             held_only=False)
    assert len(m) == n - 2  # the first frame of each episode has no previous one
    np.testing.assert_allclose(ld, 2.0 * m, atol=1e-12)
    assert lead.explained(m, ld) == pytest.approx([1.0, 1.0, 1.0])
    noise = tcp + rng.normal(0, 0.02, (n, 3))
    m, ld = lead.lead_frames(tcp, noise, target, episode, HALF, held_only=False)
    assert max(lead.explained(m, ld)) < 0.1
    m, _ = lead.lead_frames(tcp, noise, target, episode, HALF, held_only=True)
    assert len(m) == 198  # the lifted (even) frames 2..398, less 200 (an episode's first)


def test_a_recording_without_the_named_cube_is_refused(lead, tmp_path):
    with pytest.raises(SystemExit, match="error: "):
        lead.main([str(tmp_path / "nothing"), "--out", str(tmp_path / "o.json")])
