"""cosmos-policy bench: the guided engine is timed beside the unguided one in the same run."""

from __future__ import annotations

from pathlib import Path

import pytest

from cosmos_policy import cli
from cosmos_policy.engine.testing import tiny_bundle
from cosmos_policy.policy.bench import format_table, run_benchmark


def test_guidance_adds_a_side_by_side_row_and_its_ratio(tmp_path: Path) -> None:
    bundle = tiny_bundle(tmp_path / "b")
    r = run_benchmark(bundle, "franka", iters=4, warmup=1, steps=2, progress=False,
                      guidance=3.0)
    assert {"torch eager", "onnxruntime cpu", "onnxruntime W=3"} <= set(r["latency"])
    ratio = r["ratio_p50_guided_over_onnxruntime"]
    assert ratio == r["latency"]["onnxruntime W=3"]["p50_ms"] / \
        r["latency"]["onnxruntime cpu"]["p50_ms"]
    # (no bound on the ratio itself: on a tiny model the call overhead and the machine's load
    # decide it, and tests are not timed; the shipped model's figure is in docs/EVAL.md)
    assert f"prompt guidance W=3 / onnxruntime at p50: {ratio:.2f}x" in format_table(r)
    plain = run_benchmark(bundle, "franka", iters=2, warmup=0, steps=2, progress=False)
    assert "guidance" not in plain
    assert "onnxruntime W=1" not in plain["latency"]


def test_bench_refuses_a_bad_guidance_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--guidance", "-2"]) == 2
    assert "--guidance must be in [0, 20]" in capsys.readouterr().err
