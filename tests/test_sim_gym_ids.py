"""The Gymnasium ids work from a process that has imported nothing of ours."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cosmos_policy.sim import GYM_IDS

_SCRIPT = """
import sys
import gymnasium
assert "cosmos_policy" not in sys.modules, "the test must start without cosmos_policy"
env = gymnasium.make("cosmos_policy.sim:{gym_id}", embodiment="franka", cameras=("front",),
                     image_size=8)
obs, info = env.reset(seed=0)
print(env.unwrapped.task_name)
env.close()
"""


@pytest.mark.parametrize("gym_id", ["cosmos_policy/Reach-v0"])
def test_gym_make_with_only_gymnasium_imported(gym_id: str) -> None:
    done = subprocess.run([sys.executable, "-c", _SCRIPT.format(gym_id=gym_id)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == GYM_IDS[gym_id]
