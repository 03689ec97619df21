"""Parity of an engine against the torch model it was exported from.

Checks, each on fresh random inputs (seeded):
- every graph (context, denoise, encode_frames, decode_latents) on the backend against the
  same graph module in torch eager;
- whole policy chunks: :class:`EngineModel` on the backend against :class:`CompactWAM` on
  the source bundle, same seed, random observations at a resolution that needs resizing;
- policy chunks on real observations from other ``sources`` the caller passes (the CLI passes
  the MuJoCo simulator's, :func:`cosmos_policy.sim.observations.verify_observations`; engine/
  sits below sim/ and does not import it).

Error measure: ``max |engine - torch| / max(max |torch|, 1e-6)`` per output (relative to the
output's scale, so near-zero elements do not blow it up). Tolerances: fp32 1e-4, fp16 and
bf16 1e-2, fp8 5e-2 (provisional); any NaN or inf fails.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.engine.backends import TorchBackend, make_backend
from cosmos_policy.engine.graphs import random_feeds
from cosmos_policy.engine.manifest import EngineManifest, read_manifest
from cosmos_policy.spec import Observation

# (manifest, count, seed) -> observations for that engine's embodiment and cameras.
ObservationSource = Callable[[EngineManifest, int, int], list[Observation]]

TOLERANCE = {"fp32": 1e-4, "fp16": 1e-2, "bf16": 1e-2, "fp8": 5e-2}
_KEY_BIAS = "key_bias"  # 0 / -1e9 by construction: compared exactly, not relative to 1e9


@dataclass(frozen=True)
class Check:
    """One compared output: its relative error and whether it passed."""

    name: str
    max_abs: float
    rel_err: float
    tolerance: float
    finite: bool

    @property
    def ok(self) -> bool:
        return self.finite and self.rel_err <= self.tolerance


@dataclass
class VerifyReport:
    """All checks of one engine on one backend."""

    backend: str
    precision: str
    checks: list[Check] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def add(self, name: str, got: np.ndarray, ref: np.ndarray) -> None:
        got64, ref64 = np.asarray(got, np.float64), np.asarray(ref, np.float64)
        finite = bool(np.isfinite(got64).all())
        diff = float(np.abs(got64 - ref64).max()) if finite else float("inf")
        scale = max(float(np.abs(ref64).max()), 1e-6)
        rel = diff if name.endswith(_KEY_BIAS) else diff / scale
        self.checks.append(Check(name, diff, rel, TOLERANCE[self.precision], finite))

    def summary(self) -> dict[str, Any]:
        worst = max(self.checks, key=lambda c: c.rel_err / c.tolerance, default=None)
        return {"passed": self.passed, "backend": self.backend, "precision": self.precision,
                "worst": None if worst is None else {"check": worst.name,
                                                     "rel_err": worst.rel_err},
                "checks": len(self.checks), "notes": list(self.notes)}

    def table(self) -> str:
        lines = [f"{'check':<34} {'max abs':>10} {'rel err':>10} {'tol':>8}  ok"]
        for c in self.checks:
            lines.append(f"{c.name:<34} {c.max_abs:>10.2e} {c.rel_err:>10.2e} "
                         f"{c.tolerance:>8.0e}  {'yes' if c.ok else 'NO'}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)


def _random_observations(manifest: Any, n: int, seed: int) -> list[Observation]:
    c, d = manifest.config, manifest.domain
    rng = np.random.default_rng(seed)
    side = c.image_size * 2 - 4  # not the model size, so resizing is part of the check
    out = []
    for i in range(n):
        images = {cam: rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                  for cam in c.cameras}
        state = (np.asarray(d.state_mean) + rng.standard_normal(d.state_dim)
                 * np.asarray(d.state_std)).astype(np.float32)
        out.append(Observation(images, state, ["push the red block to the left",
                                               "pick up the cube"][i % 2], float(i)))
    return out


def verify_engine(root: str | Path, backend: str = "auto", *, bundle: str | Path | None = None,
                  samples: int = 2, seed: int = 0,
                  sources: Mapping[str, ObservationSource] | None = None) -> VerifyReport:
    """Compare the engine at ``root`` on ``backend`` with its torch source; see module doc.

    sources: name -> a source of real observations for the policy-chunk checks (besides the
    random ones); a source that fails leaves a note in the report instead of a check.
    """
    from cosmos_policy.policy.compact import EngineModel, load_model

    root = Path(root)
    manifest = read_manifest(root)
    source = Path(bundle) if bundle is not None else Path(manifest.model["path"])
    under_test = make_backend(backend, root, manifest)
    reference = TorchBackend()
    reference.load(root, manifest if bundle is None else _with_model(manifest, source))
    report = VerifyReport(under_test.name, manifest.precision)
    for graph in manifest.graphs:
        for s in range(samples):
            feeds = random_feeds(manifest.io(graph), seed=seed + 101 * s)
            got, ref = under_test.run(graph, feeds), reference.run(graph, feeds)
            for name in ref:
                report.add(f"{graph}.{name}[{s}]", got[name], ref[name])
    ref_model = load_model(source, manifest.embodiment, steps=manifest.steps, seed=seed)
    model = EngineModel(root, backend, steps=manifest.steps, seed=seed)
    model.backend = under_test  # reuse the loaded backend
    sets = [("random", _random_observations(manifest, samples, seed))]
    for label, source in (sources or {}).items():
        try:
            sets.append((label, source(manifest, samples, seed)))
        except Exception as exc:  # noqa: BLE001 - any missing piece of the source's stack
            report.notes.append(f"no {label} observations ({type(exc).__name__}: {exc})")
    for label, observations in sets:
        for i, obs in enumerate(observations):
            ref_model.reset()
            model.reset()
            report.add(f"policy chunk ({label} obs {i})", model.policy(obs).actions,
                       ref_model.policy(obs).actions)
    return report


def _with_model(manifest: Any, bundle: Path) -> Any:
    from dataclasses import replace

    return replace(manifest, model={**manifest.model, "path": str(bundle)})
