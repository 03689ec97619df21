"""Checkpoint bundles of the compact WAM: a folder that carries everything the weights need.

    <bundle>/
      model.safetensors   fp32 weights and buffers (incl. the latent normalisation)
      config.json         WAMConfig
      domains.json        embodiment domain table: index -> name, aliases, state/action dims
      stats.json          per-domain normalisation statistics of state and action
      manifest.json       format version, package versions, sha256 of the four files above

Loading checks every hash, the table against the config and the statistics against the
table, and loads the weights strictly; any mismatch raises a :class:`UserError` naming the
fix. Nothing is pickled.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from cosmos_policy import __version__
from cosmos_policy.data.atomic import temp_path
from cosmos_policy.errors import ConfigError, UserError
from cosmos_policy.models.config import DomainSpec, WAMConfig, check_domains
from cosmos_policy.models.network import WorldActionNet
from cosmos_policy.paths import engines_dir

FORMAT = "cosmos-policy/compact-wam"
FORMAT_VERSION = 1
FILES = ("model.safetensors", "config.json", "domains.json", "stats.json")
_STAT_KEYS = ("state_mean", "state_std", "action_mean", "action_std")


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _json(data: Any) -> str:
    return json.dumps(data, indent=2) + "\n"


def stage_bundle(path: str | Path, net: WorldActionNet, domains: list[DomainSpec],
                 extra: dict[str, Any] | None = None) -> list[Path]:
    """Write every file of the bundle at ``path`` beside its final name (``<name>.tmp``);
    returns them in the order to rename them, the manifest last (see :func:`save_bundle`).

    All the space a checkpoint needs is taken here, before any file of the previous one is
    replaced: a full disk stops the save with the previous bundle intact. On failure the
    scratch files are removed.
    """
    root = Path(path)
    check_domains(net.config, domains, str(root))
    root.mkdir(parents=True, exist_ok=True)
    staged = [temp_path(root / name) for name in (*FILES, "manifest.json")]
    try:
        tensors = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
        save_file(tensors, str(staged[0]), metadata={"format": FORMAT})
        staged[1].write_text(_json(net.config.to_dict()))
        staged[2].write_text(_json([
            {"index": i, "name": d.name, "aliases": list(d.aliases), "state_dim": d.state_dim,
             "action_dim": d.action_dim} for i, d in enumerate(domains)]))
        staged[3].write_text(_json({
            d.name: {k: list(getattr(d, k)) for k in _STAT_KEYS} for d in domains}))
        from cosmos_policy.models.text import text_encoder_version

        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "versions": {"cosmos_policy": __version__, "torch": torch.__version__,
                         "text_encoder": text_encoder_version()},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "params": sum(p.numel() for p in net.parameters()),
            "files": {name: sha256(tmp) for name, tmp in zip(FILES, staged, strict=False)},
            **(extra or {}),
        }
        staged[4].write_text(_json(manifest))
    except BaseException:
        discard(staged)
        raise
    return staged


def commit(staged: list[Path]) -> None:
    """Rename staged files (``<name>.tmp``) to their names, in order; renames need no space."""
    for tmp in staged:
        tmp.replace(tmp.with_name(tmp.name.removesuffix(".tmp")))


def discard(staged: list[Path]) -> None:
    """Remove staged files that were not committed."""
    for tmp in staged:
        tmp.unlink(missing_ok=True)


def save_bundle(path: str | Path, net: WorldActionNet, domains: list[DomainSpec],
                extra: dict[str, Any] | None = None) -> Path:
    """Write ``net`` and its domain table as a bundle folder at ``path``; returns the path.

    Every file is written first under a scratch name, then renamed, manifest last; a full
    disk or a crash while writing leaves the previous bundle as it was.
    """
    commit(stage_bundle(path, net, domains, extra))
    return Path(path)


def _read_json(root: Path, name: str) -> Any:
    try:
        return json.loads((root / name).read_text())
    except FileNotFoundError as exc:
        raise UserError(f"{root} is not a complete model bundle: {name} is missing; "
                        "point at a folder written by `cosmos-policy train`") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(str(root / name), "(file)", f"valid JSON ({exc})") from exc


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of a bundle, with its format and every file hash verified."""
    root = Path(path)
    if not root.is_dir():
        raise UserError(f"model bundle {root} does not exist; train one with "
                        "`cosmos-policy train` or pass the folder that holds manifest.json")
    manifest = _read_json(root, "manifest.json")
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise UserError(f"{root}: bundle format {manifest.get('format')} "
                        f"v{manifest.get('format_version')}, this cosmos-policy reads {FORMAT} "
                        f"v{FORMAT_VERSION}; re-save it with a matching cosmos-policy version")
    for name in FILES:
        if not (root / name).is_file():
            raise UserError(f"{root}: {name} is missing; the bundle is incomplete, copy it again")
        expected = manifest.get("files", {}).get(name)
        if expected != sha256(root / name):
            raise UserError(f"{root}: {name} does not match the hash in manifest.json (edited "
                            "or corrupt); restore the file or re-save the bundle")
    return manifest


def sampler_noise_scale(manifest: dict[str, Any], source: str) -> float:
    """The initial-noise scale a bundle's policy samples with unless told otherwise:
    ``manifest.json``'s ``sampler.noise_scale`` (chosen on validation seeds for that model,
    docs/MODEL.md), 1.0 when the bundle names none."""
    sampler = manifest.get("sampler", {})
    if not isinstance(sampler, dict):
        raise ConfigError(source, "sampler", "an object such as {\"noise_scale\": 0.5}", sampler)
    value = sampler.get("noise_scale", 1.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ConfigError(source, "sampler.noise_scale", "a number in [0, 1]", value)
    return float(value)


def load_bundle(path: str | Path) -> tuple[WorldActionNet, list[DomainSpec], dict[str, Any]]:
    """Load and check a bundle; returns (network in eval mode, domain table, manifest)."""
    root = Path(path)
    manifest = read_manifest(root)
    config = WAMConfig.from_dict(_read_json(root, "config.json"), str(root / "config.json"))
    table = _read_json(root, "domains.json")
    stats = _read_json(root, "stats.json")
    domains = []
    for i, entry in enumerate(table):
        name = entry.get("name")
        if entry.get("index") != i:
            raise ConfigError(str(root / "domains.json"), f"[{i}].index", f"{i}",
                              entry.get("index"))
        if name not in stats:
            raise ConfigError(str(root / "stats.json"), str(name),
                              "statistics for every domain of domains.json (re-save the bundle)")
        domains.append(DomainSpec(
            name=name, state_dim=entry["state_dim"], action_dim=entry["action_dim"],
            aliases=tuple(entry.get("aliases", ())),
            **{k: tuple(stats[name][k]) for k in _STAT_KEYS}))
    extra = sorted(set(stats) - {d.name for d in domains})
    if extra:
        raise ConfigError(str(root / "stats.json"), extra[0], "only domains of domains.json")
    check_domains(config, domains, str(root / "domains.json"))
    net = WorldActionNet(config)
    weights = load_file(str(root / "model.safetensors"))
    try:
        net.load_state_dict(weights, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        detail = first[1].strip() if len(first) > 1 else first[0]
        raise UserError(f"{root}: model.safetensors does not fit config.json ({detail}); "
                        "use the config the weights were trained with") from exc
    return net.eval(), domains, manifest


def default_model_path() -> Path:
    """The shipped default bundle: ``engines/default/`` (raises if it is absent)."""
    path = engines_dir() / "default"
    if not (path / "manifest.json").is_file():
        raise UserError(f"no default model at {path}; train one with `cosmos-policy train "
                        f"DATASET --out {path}` or pass a bundle path")
    return path
