"""Training of the compact WAM: autoencoder phase, then the three modes jointly.

Phase 1 (``ae_steps``) trains the frame autoencoder on reconstruction. At its end the
per-channel latent statistics are fixed (stored as buffers with the weights), every frame
is encoded once, and the autoencoder is frozen. Phase 2 trains both towers and the domain
projectors with flow matching, sampling the mode (policy / forward / inverse dynamics) per
example. AdamW with linear warm-up and cosine decay, per phase.

``--out DIR`` is a model bundle (see :mod:`cosmos_policy.models.checkpoint`) plus
``DIR/train/`` (optimizer state and RNG as safetensors, step and settings as JSON) and
``DIR/metrics.jsonl``; a run resumes from them. Projector-only mode starts from another
bundle, adds a domain per new embodiment and trains only the per-domain state/action
projectors of the new domains.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from tqdm import tqdm

from cosmos_policy.data.atomic import disk_full, temp_path
from cosmos_policy.errors import ConfigError, UserError
from cosmos_policy.models.checkpoint import commit, discard, load_bundle, stage_bundle
from cosmos_policy.models.config import WAMConfig
from cosmos_policy.models.flow import FlowBatch, Mode, flow_loss
from cosmos_policy.models.network import WorldActionNet
from cosmos_policy.models.text import PromptEncoder
from cosmos_policy.training.datacache import DatasetLike, TrainingData
from cosmos_policy.training.layout import TaskLayout, load_layout
from cosmos_policy.training.objects import (
    counterfactual_objects,
    load_object_head,
    make_object_head,
)


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (stored in ``train/state.json``).

    steps: total optimizer steps including ``ae_steps`` (default: a fifth of ``steps``;
    forced to 0 when starting from ``init``). mode_probs: policy, forward, inverse.
    early_fraction/early_steps: share of examples drawn from the first frames of episodes,
    carry_fraction: from frames that carry a cube to the plate
    (see :meth:`~cosmos_policy.training.datacache.TrainingData.sample`). object_weight: weight
    of the auxiliary loss that reads the cube positions (the named one first, for a prompt
    whose colour is redrawn: :meth:`Trainer.object_batch`) off the reasoner, on datasets that
    record ``observation.environment_state`` (0: off). prompt_variants / paraphrase_prob: a
    recorded prompt that matches a template of ``prompt_variants`` (``{color}`` as its field)
    is replaced, with probability ``paraphrase_prob``, by one of that template's variants naming
    the same colour (:class:`PromptVariants`).
    """

    steps: int = 2000
    batch: int = 32
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 100
    ae_steps: int | None = None
    ae_batch: int = 64
    ae_lr: float = 1e-3
    mode_probs: tuple[float, float, float] = (0.5, 0.25, 0.25)
    prompt_dropout: float = 0.1
    early_fraction: float = 0.0
    early_steps: int = 8
    carry_fraction: float = 0.0
    object_weight: float = 0.0
    log_every: int = 10
    ckpt_every: int = 200
    seed: int = 0
    projector_only: bool = False
    prompt_variants: dict[str, tuple[str, ...]] = field(default_factory=dict)
    paraphrase_prob: float = 0.0

    def __post_init__(self) -> None:
        for name in ("steps", "batch", "ae_batch", "log_every", "ckpt_every"):
            if getattr(self, name) < 1:
                raise ConfigError("train", name, "a positive integer", getattr(self, name))
        if self.ae_steps is not None and not 0 <= self.ae_steps <= self.steps:
            raise ConfigError("train", "ae_steps", f"between 0 and steps={self.steps}",
                              self.ae_steps)
        if len(self.mode_probs) != 3 or min(self.mode_probs) < 0 or sum(self.mode_probs) <= 0:
            raise ConfigError("train", "mode_probs", "three non-negative weights")
        if not 0.0 <= self.carry_fraction <= 1.0:
            raise ConfigError("train", "carry_fraction", "a probability in [0, 1]",
                              self.carry_fraction)
        if not self.object_weight >= 0:
            raise ConfigError("train", "object_weight", "a non-negative number",
                              self.object_weight)
        if not 0.0 <= self.paraphrase_prob <= 1.0:
            raise ConfigError("train", "paraphrase_prob", "a probability in [0, 1]",
                              self.paraphrase_prob)
        if self.paraphrase_prob > 0 and not self.prompt_variants:
            raise ConfigError("train", "prompt_variants", "templates to draw paraphrases from "
                              "when paraphrase_prob > 0")
        PromptVariants(self.prompt_variants)  # validates the templates

    def ae_phase(self, from_init: bool) -> int:
        if from_init or self.projector_only:
            return 0
        return self.ae_steps if self.ae_steps is not None else self.steps // 5


class PromptVariants:
    """Rewrites a prompt that matches one of the ``variants``' templates into one of that
    template's variants, keeping the colour: with ``{"reach the {color} cube": ("go to the
    {color} block",)}``, "reach the red cube" becomes "go to the red block". Prompts that match
    no template are returned unchanged."""

    def __init__(self, variants: dict[str, tuple[str, ...]] | dict[str, list[str]]) -> None:
        self.rules: list[tuple[re.Pattern[str], tuple[str, ...]]] = []
        for template, alternatives in variants.items():
            alts = tuple(alternatives)
            bad = [t for t in (template, *alts) if not isinstance(t, str)
                   or t.count("{color}") != 1 or "{" in t.replace("{color}", "")]
            if bad or not alts:
                raise ConfigError("train", "prompt_variants", "templates with one {color} "
                                  "field each, and at least one variant per template",
                                  bad or template)
            head, tail = template.split("{color}")
            pattern = re.compile(re.escape(head) + r"(?P<color>[A-Za-z]+)" + re.escape(tail))
            self.rules.append((pattern, alts))

    def __call__(self, prompt: str, rng: np.random.Generator) -> str:
        for pattern, alts in self.rules:
            m = pattern.fullmatch(prompt)
            if m:
                return alts[int(rng.integers(len(alts)))].format(color=m["color"])
        return prompt


def lr_at(step: int, start: int, end: int, peak: float, warmup: int) -> float:
    """Linear warm-up then cosine decay to 5% of ``peak`` over [start, end)."""
    n, i = max(end - start, 1), step - start
    w = min(warmup, n // 10 + 1)
    if i < w:
        return peak * (i + 1) / w
    return peak * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (i - w) / max(n - w, 1))))


def _save_optimizer(path: Path, params: dict[str, nn.Parameter], opt: torch.optim.Optimizer,
                    gen: torch.Generator) -> None:
    tensors = {"rng.torch": gen.get_state()}
    for name, p in params.items():
        for key, value in opt.state.get(p, {}).items():
            tensors[f"{name}/{key}"] = torch.as_tensor(value).contiguous().clone()
    save_file(tensors, str(path))


def _load_optimizer(path: Path, params: dict[str, nn.Parameter], opt: torch.optim.Optimizer,
                    gen: torch.Generator) -> None:
    tensors = load_file(str(path))
    gen.set_state(tensors.pop("rng.torch"))
    for key, value in tensors.items():
        name, field = key.rsplit("/", 1)
        if name not in params:
            raise UserError(f"{path}: optimizer state for unknown weight {name}; start a new "
                            "--out folder or drop --resume")
        opt.state[params[name]][field] = value


class Trainer:
    """One training run; ``run()`` trains to ``cfg.steps`` and leaves a bundle in ``out``."""

    def __init__(self, sources: Sequence[str | Path | DatasetLike], out: str | Path,
                 model_config: WAMConfig | None = None, cfg: TrainConfig | None = None,
                 init: str | Path | None = None, resume: bool = False,
                 patch: int | None = None, layout: TaskLayout | None = None) -> None:
        """patch: re-tokenise the ``init`` model at this finer latent patch side
        (:meth:`WorldActionNet.repatched`) before fine-tuning it. layout: the task layout of
        the recordings (objects, colours; default: the shipped suite's,
        :func:`~cosmos_policy.training.layout.load_layout`)."""
        self.cfg = cfg or TrainConfig()
        self.out = Path(out)
        self.state_dir = self.out / "train"
        self.sources = [str(s) if isinstance(s, (str, Path)) else s for s in sources]
        state = self._read_state() if resume else None
        if state is None and (self.out / "manifest.json").exists() and not resume:
            raise UserError(f"{self.out} already holds a model; pass --resume to continue it "
                            "or choose a new --out folder")
        domains = None
        # the sampler the model was chosen with (manifest ``sampler``): a fine-tune keeps its
        # parent's until it is chosen again on validation (docs/MODEL.md)
        self.sampler: dict[str, Any] | None = None
        if state is not None or init is not None:
            net, domains, manifest = load_bundle(self.out if state is not None else init)
            self.sampler = manifest.get("sampler")
            saved_at = manifest.get("training", {}).get("step")
            if state is not None and saved_at not in (None, state["step"]):
                raise UserError(f"{self.out}: the last checkpoint is incomplete (weights of "
                                f"step {saved_at}, training state of step {state['step']}; "
                                "the run stopped while saving); start a new --out folder")
            if state is None and patch is not None and patch != net.config.patch:
                try:
                    net = net.repatched(patch)
                except ValueError:
                    raise UserError(f"--patch {patch}: the --init model cuts latents into "
                                    f"{net.config.patch}-side patches; pass a divisor of it"
                                    ) from None
            if model_config is not None and model_config != net.config and state is not None:
                raise UserError(f"{self.out}: the model config differs from the run being "
                                "resumed; drop --resume or use the same settings")
        else:
            net = WorldActionNet(model_config or WAMConfig())
        self.layout = layout or load_layout()
        self.data = TrainingData.build(self.sources, net.config, domains, self.layout)
        while net.config.n_domains < len(self.data.domains):
            net.add_domain()
        self.net = net
        self.from_init = init is not None or bool(state and state.get("from_init"))
        self.ae_steps = int(state["ae_steps"]) if state else self.cfg.ae_phase(self.from_init)
        self.step = int(state["step"]) if state else 0
        self._saved_step: int | None = self.step if state else None
        self.rng = np.random.default_rng(self.cfg.seed)
        if state:
            self.rng.bit_generator.state = state["numpy_rng"]
        self.gen = torch.Generator().manual_seed(self.cfg.seed)
        self.n_old_domains = (int(state["n_old_domains"]) if state else
                              len(domains or []) if self.cfg.projector_only else 0)
        if self.cfg.projector_only and self.n_old_domains == len(self.data.domains):
            raise UserError("--projector-only trains new embodiment domains, but every dataset's "
                            "robot_type is already a domain of --init; fine-tune without "
                            "--projector-only")
        self.prompts = PromptEncoder(net.config.max_prompt_tokens)
        self.variants = PromptVariants(self.cfg.prompt_variants)
        self.object_head = self._make_object_head(
            self.state_dir if state is not None else Path(init) / "train" if init else None)
        self.opt = self._make_optimizer()
        if state and (self.state_dir / "optimizer.safetensors").exists():
            _load_optimizer(self.state_dir / "optimizer.safetensors", self._named_params(),
                            self.opt, self.gen)

    # State ---------------------------------------------------------------------------
    def _read_state(self) -> dict[str, Any] | None:
        path = self.state_dir / "state.json"
        if not path.is_file():
            return None
        state = json.loads(path.read_text())
        defaults = json.loads(json.dumps(asdict(TrainConfig())))  # runs from before a setting
        # plan_teacher/plan_noise: settings of the removed plan token (a run that used it
        # holds a plan-token model, which load_bundle refuses).
        saved = {k: v for k, v in (defaults | state["train_config"]).items()
                 if k not in ("steps", "plan_teacher", "plan_noise")}
        now = {k: v for k, v in json.loads(json.dumps(asdict(self.cfg))).items() if k != "steps"}
        if saved != now:
            diff = sorted(k for k in now if saved.get(k) != now[k])
            raise UserError(f"{path}: settings {diff} differ from the run being resumed; "
                            "resume with the same settings or start a new --out folder")
        if state["sources"] != [s for s in self.sources if isinstance(s, str)]:
            raise UserError(f"{path}: the run was trained on {state['sources']}; resume with "
                            "the same datasets or start a new --out folder")
        return state

    def _make_object_head(self, state_dir: Path | None) -> nn.Module | None:
        """The auxiliary object head (train-time only, never part of the bundle): restored
        from ``state_dir`` (the run being resumed, or the ``--init`` run's ``train/``) when
        it holds one, else new."""
        if self.cfg.object_weight <= 0 or self.cfg.projector_only:
            return None
        torch.manual_seed(self.cfg.seed)
        path = state_dir / "object_head.safetensors" if state_dir else None
        if path is not None and path.is_file():
            return load_object_head(path, self.net.config.d_model, self.layout.objects_dim)
        return make_object_head(self.net.config.d_model, self.layout.objects_dim)

    def _named_params(self) -> dict[str, nn.Parameter]:
        params = dict(self.net.named_parameters())
        if self.object_head is not None:
            params |= {f"object_head.{n}": p for n, p in self.object_head.named_parameters()}
        return params

    def _phase(self) -> str:
        return "ae" if self.step < self.ae_steps else "wam"

    def _make_optimizer(self) -> torch.optim.Optimizer:
        net = self.net
        for p in net.parameters():
            p.requires_grad_(False)
        if self._phase() == "ae":
            params = list(net.ae.parameters())
            wd = 0.0
        elif self.cfg.projector_only:
            params = net.projector_parameters()
            wd = 0.0  # decay would move the old domains' rows, whose gradients are masked
        else:
            params = [p for n, p in net.named_parameters() if not n.startswith("ae.")]
            if self.object_head is not None:
                params += list(self.object_head.parameters())
            wd = self.cfg.weight_decay
        for p in params:
            p.requires_grad_(True)
            if self.cfg.projector_only:
                p.register_hook(self._mask_old_domains)
        return torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=wd)

    def _mask_old_domains(self, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[: self.n_old_domains] = 0
        return grad

    def save(self) -> None:
        """Write the bundle, optimizer/RNG state and ``state.json``.

        Every file is first written under a scratch name (``*.tmp``) and only then renamed
        into place, bundle first and ``state.json`` last: a full disk (a clear UserError) or
        a crash while writing leaves the previous complete checkpoint to resume from.
        """
        self.state_dir.mkdir(parents=True, exist_ok=True)
        ours: list[Path] = []
        kept = (f"the checkpoint of step {self._saved_step} is kept: rerun with --resume "
                "after freeing space" if self._saved_step is not None else "")
        try:
            with disk_full(self.out, "train (saving a checkpoint)", kept):
                ours.append(temp_path(self.state_dir / "optimizer.safetensors"))
                _save_optimizer(ours[-1], self._named_params(), self.opt, self.gen)
                if self.object_head is not None:
                    ours.append(temp_path(self.state_dir / "object_head.safetensors"))
                    head = self.object_head.state_dict()
                    save_file({k: v.contiguous() for k, v in head.items()}, str(ours[-1]))
                state = {"step": self.step, "phase": self._phase(), "from_init": self.from_init,
                         "ae_steps": self.ae_steps, "n_old_domains": self.n_old_domains,
                         "numpy_rng": self.rng.bit_generator.state,
                         "sources": [s for s in self.sources if isinstance(s, str)],
                         "train_config": json.loads(json.dumps(asdict(self.cfg)))}
                ours.append(temp_path(self.state_dir / "state.json"))
                ours[-1].write_text(json.dumps(state, indent=2) + "\n")
                extra: dict[str, Any] = {
                    "training": {"step": self.step, "sources": state["sources"]}}
                if self.sampler is not None:
                    extra["sampler"] = self.sampler
                bundle = stage_bundle(self.out, self.net, self.data.domains, extra=extra)
        except BaseException:
            discard(ours)
            raise
        commit(bundle + ours)  # renames only; state.json last marks the checkpoint complete
        self._saved_step = self.step

    # Steps ---------------------------------------------------------------------------
    def _ae_step(self) -> dict[str, float]:
        lr = lr_at(self.step, 0, self.ae_steps, self.cfg.ae_lr, self.cfg.warmup)
        for g in self.opt.param_groups:
            g["lr"] = lr
        loss = self.net.ae.loss(self.data.random_images(self.rng, self.cfg.ae_batch))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach()), "lr": lr}

    def _end_ae_phase(self) -> None:
        """Fix the latent statistics and encode every frame once."""
        with torch.no_grad():
            imgs = self.data.random_images(np.random.default_rng(self.cfg.seed), 1024)
            z = torch.cat([self.net.ae.encode(x) for x in imgs.split(256)])
            self.net.latent_mean.copy_(z.mean((0, 2, 3)))
            self.net.latent_std.copy_(z.std((0, 2, 3)).clamp_min(1e-3))

    def _wam_batch(self) -> tuple[FlowBatch, dict[str, Any]]:
        """A flow batch, and the sampled examples it was built from (for the object head)."""
        b = self.data.sample(self.rng, self.cfg.batch, self.cfg.early_fraction,
                             self.cfg.early_steps, self.cfg.carry_fraction)
        if self.cfg.paraphrase_prob > 0:
            swap = self.rng.random(self.cfg.batch) < self.cfg.paraphrase_prob
            b["prompts"] = [self.variants(p, self.rng) if sw else p
                            for p, sw in zip(b["prompts"], swap, strict=True)]
        probs = np.asarray(self.cfg.mode_probs, dtype=np.float64)
        mode = self.rng.choice(3, size=self.cfg.batch, p=probs / probs.sum())
        mode[b["policy_only"]] = Mode.POLICY  # DAgger frames: expert actions, policy's path
        drop = self.rng.random(self.cfg.batch) < self.cfg.prompt_dropout
        prompts = ["" if m == Mode.INVERSE or dr else p
                   for p, m, dr in zip(b["prompts"], mode, drop, strict=True)]
        emb, mask = self.prompts.encode(prompts)
        return FlowBatch(latents=b["latents"], future=b["future"], prompt_emb=emb,
                         prompt_mask=mask, state=b["state"], actions=b["actions"],
                         action_mask=b["action_mask"], domain=b["domain"],
                         mode=torch.from_numpy(mode).long()), b

    def object_batch(self, b: dict[str, Any]) -> tuple[list[str], torch.Tensor, torch.Tensor]:
        """The object head's counterfactual prompts and targets for the examples ``b``
        (:func:`~cosmos_policy.training.objects.counterfactual_objects`)."""
        return counterfactual_objects(b, self.rng, self.layout)

    def _object_loss(self, b: dict[str, Any]) -> torch.Tensor:
        prompts, targets, mask = self.object_batch(b)
        emb, pmask = self.prompts.encode(prompts)
        summary = self.net.summarise(b["latents"], emb, pmask, b["state"], b["domain"])
        assert self.object_head is not None
        err = (self.object_head(summary) - targets) ** 2 * mask
        return err.sum() / mask.sum().clamp_min(1.0)

    def _wam_step(self) -> dict[str, float]:
        lr = lr_at(self.step, self.ae_steps, self.cfg.steps, self.cfg.lr, self.cfg.warmup)
        for g in self.opt.param_groups:
            g["lr"] = lr
        batch, examples = self._wam_batch()
        loss, metrics = flow_loss(self.net, batch, self.gen)
        if self.object_head is not None:
            obj = self._object_loss(examples)
            loss = loss + self.cfg.object_weight * obj
            metrics["objects"] = float(obj.detach())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            [p for g in self.opt.param_groups for p in g["params"]], 1.0)
        self.opt.step()
        return {"loss": float(loss.detach()), "lr": lr, **metrics}

    def run(self, until: int | None = None) -> Path:
        """Train to ``cfg.steps`` (or stop after step ``until``, as an interruption would),
        logging to ``metrics.jsonl``; returns the bundle path."""
        stop = self.cfg.steps if until is None else min(until, self.cfg.steps)
        self.out.mkdir(parents=True, exist_ok=True)
        log = (self.out / "metrics.jsonl").open("a")
        if self._phase() == "wam":
            self.net.train()
            self.data.encode_latents(self.net.encode_frames)
        sums: dict[str, list[float]] = {}
        t0 = time.monotonic()
        bar = tqdm(total=self.cfg.steps, initial=self.step, desc="train", unit="step")
        try:
            with disk_full(self.out, "train"):  # metrics.jsonl, checkpoints
                while self.step < stop:
                    phase = self._phase()
                    self.net.train()
                    if self.object_head is not None:
                        self.object_head.train()
                    m = self._ae_step() if phase == "ae" else self._wam_step()
                    self.step += 1
                    for k, v in m.items():
                        sums.setdefault(k, []).append(v)
                    bar.update(1)
                    bar.set_postfix(phase=phase, loss=f"{m['loss']:.4f}")
                    if self.step % self.cfg.log_every == 0 or self.step == self.cfg.steps:
                        row = {"step": self.step, "phase": phase,
                               "time_s": round(time.monotonic() - t0, 2),
                               **{k: float(np.mean(v)) for k, v in sums.items()}}
                        log.write(json.dumps(row) + "\n")
                        log.flush()
                        sums = {}
                    if phase == "ae" and self._phase() == "wam":
                        self._end_ae_phase()
                        self.data.encode_latents(self.net.encode_frames)
                        self.opt = self._make_optimizer()
                        self.save()
                    elif self.step % self.cfg.ckpt_every == 0:
                        self.save()
                self.save()
        finally:
            bar.close()
            with contextlib.suppress(OSError):  # a full disk already raised its own error
                log.close()
        self.net.eval()
        return self.out
