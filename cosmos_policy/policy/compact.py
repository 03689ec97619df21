"""The two ways to build a :class:`Policy` of the compact model: a bundle on torch, an engine
folder on any engine backend. ``load_model`` and ``EngineModel`` are the names callers use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cosmos_policy.embodiment import Embodiment, available_embodiments, load_embodiment
from cosmos_policy.engine.backends import NetBackend, make_backend
from cosmos_policy.engine.manifest import EngineRequest, read_manifest
from cosmos_policy.models.checkpoint import default_model_path, load_bundle, sampler_noise_scale
from cosmos_policy.models.config import DomainSpec
from cosmos_policy.models.domains import resolve_domain
from cosmos_policy.models.network import WorldActionNet
from cosmos_policy.policy.wrapper import Policy


def _dt(dt: float | None, emb: Embodiment | None) -> float:
    """Seconds between actions: given, else the embodiment's control rate, else 0.1."""
    rate = emb.control_rate_hz if emb is not None else None
    return dt if dt is not None else (1.0 / rate if rate else 0.1)


class CompactWAM(Policy):
    """A loaded network as a :class:`Policy` on the torch backend (:class:`NetBackend`).

    net, domains: from :func:`load_bundle`. embodiment: an :class:`Embodiment` or a name
    (a domain name/alias of the bundle); may be omitted when the bundle has one domain.
    dt: seconds between actions when no shipped embodiment gives ``control.rate_hz``.
    The rest as :class:`Policy`; only the construction differs.
    """

    def __init__(self, net: WorldActionNet, domains: list[DomainSpec],
                 embodiment: Embodiment | str | None = None, *, steps: int = 10, seed: int = 0,
                 dt: float | None = None, return_future_frames: bool = False,
                 noise_scale: float = 1.0, prompts: Any = None, guidance: float = 1.0) -> None:
        index, emb = resolve_domain(domains, embodiment)
        self.net, self.domains = net, domains
        super().__init__(NetBackend(net, index), net.config, domains[index], steps=steps,
                         seed=seed, dt=_dt(dt, emb), prompts=prompts, noise_scale=noise_scale,
                         return_future_frames=return_future_frames, domain_index=index,
                         guidance=guidance)


def load_model(path: str | Path | None = None, embodiment: Embodiment | str | None = None,
               *, noise_scale: float | None = None, **kwargs: Any) -> CompactWAM:
    """Load a bundle (default: the shipped ``engines/default``) as a torch :class:`Policy`.
    noise_scale: None samples with the bundle's own (:func:`sampler_noise_scale`)."""
    root = Path(default_model_path() if path is None else path)
    net, domains, manifest = load_bundle(root)
    if noise_scale is None:
        noise_scale = sampler_noise_scale(manifest, str(root / "manifest.json"))
    return CompactWAM(net, domains, embodiment, noise_scale=noise_scale, **kwargs)


class EngineModel(Policy):
    """A built engine folder as a :class:`Policy` on an engine backend.

    root: the engine folder. backend: a name of ``BACKENDS`` or ``auto``.
    request: when given, the engine must match it (embodiment, batch, shapes, precision).
    steps: Euler steps (default: the manifest's). The rest as :class:`Policy`.
    """

    def __init__(self, root: str | Path, backend: str = "auto", *,
                 request: EngineRequest | None = None, steps: int | None = None, seed: int = 0,
                 dt: float | None = None, return_future_frames: bool = False,
                 prompts: Any = None, noise_scale: float | None = None,
                 guidance: float = 1.0) -> None:
        self.root = Path(root)
        self.manifest = m = read_manifest(self.root, request)
        if noise_scale is None:  # as the bundle it was built from samples
            noise_scale = m.noise_scale
        emb = load_embodiment(m.embodiment) if m.embodiment in available_embodiments() else None
        super().__init__(make_backend(backend, self.root, m), m.config, m.domain,
                         batch=m.batch, steps=m.steps if steps is None else steps, seed=seed,
                         dt=_dt(dt, emb), prompts=prompts, noise_scale=noise_scale,
                         return_future_frames=return_future_frames,
                         domain_index=m.domain_index, stats_dtype=np.float32, guidance=guidance)
