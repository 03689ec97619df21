"""Every ``--model`` / ``--backend`` spelling, resolved in one place.

Every command (eval, eval-dynamics, serve, label, bench, engine build/verify, demo) and the
ROS 2 node call :func:`find_model` / :func:`load_model` here, so a name means the same
thing everywhere and a mistake ends in the same one-line error.

``--model`` (:data:`MODEL_NAMES`, then a folder, classified by :func:`find_model`):

==============  ===========================================================================
``default``     the shipped model bundle, ``engines/default``
``random``      :class:`~cosmos_policy.policy.stand_ins.RandomWalkModel`, a seeded stand-in
``oracle``      the scripted expert; it reads the simulator, so only a caller with an env
                (``eval``) can build it: it passes a factory in ``factories``
bundle folder   ``manifest.json`` + ``model.safetensors`` (what ``train`` writes)
engine folder   ``*.onnx`` / ``*.plan`` + ``manifest.json`` (what ``engine build`` writes)
Cosmos 3        a Cosmos 3 pipeline folder (:mod:`cosmos_policy.models.cosmos3_use`)
Cosmos 3 policy a Cosmos 3 policy checkpoint folder (joint positions + state row,
                :mod:`cosmos_policy.models.cosmos3_policy`)
==============  ===========================================================================

``--backend`` (:data:`BACKENDS`, the same names everywhere):

* bundle: ``torch`` is the eager reference (:class:`~cosmos_policy.models.CompactWAM`);
  ``auto`` and ``onnxruntime[-cpu|-cuda|-tensorrt]`` run its cached, parity-checked ONNX
  engine (:func:`~cosmos_policy.policy.default.default_engine`); native ``tensorrt`` needs an
  engine folder built with ``engine build --backend tensorrt``.
* engine folder: every backend this machine has (:func:`available_backends`); ``auto``
  picks TensorRT where the engine has plans and it runs here, else ONNX Runtime.
* Cosmos 3: ``auto`` or ``torch`` (diffusers).
* ``random`` / ``oracle`` run no network: any backend this machine has is accepted, unused.

A backend that cannot apply (unknown, not installed here, or not for this kind of model)
is refused by :func:`check_backend` with one line listing the ones that can.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cosmos_policy.embodiment import Embodiment, load_embodiment
from cosmos_policy.errors import UserError
from cosmos_policy.spec import WorldActionModel

# name -> what it means (the folders are classified by find_model)
MODEL_NAMES: dict[str, str] = {
    "default": "the shipped model (engines/default)",
    "random": "a seeded random-walk stand-in (no weights)",
    "oracle": "the scripted expert as a model (eval only: it reads the simulator)",
}
FOLDERS = "a model bundle, engine or Cosmos 3 checkpoint folder"
BACKENDS: tuple[str, ...] = ("auto", "torch", "onnxruntime", "onnxruntime-cpu",
                             "onnxruntime-cuda", "onnxruntime-tensorrt", "tensorrt")
# kind -> backends that can run it at all (before asking what this machine has)
APPLIES: dict[str, tuple[str, ...]] = {
    "bundle": ("auto", "torch", "onnxruntime", "onnxruntime-cpu", "onnxruntime-cuda",
               "onnxruntime-tensorrt"),
    "engine": BACKENDS,
    "cosmos3": ("auto", "torch"),
    "cosmos3-policy": ("auto", "torch"),
    "random": BACKENDS,
    "oracle": BACKENDS,
}
KIND_WORDS: dict[str, str] = {"bundle": "a model bundle", "engine": "an engine folder",
                              "cosmos3": "a Cosmos 3 checkpoint",
                              "cosmos3-policy": "a Cosmos 3 policy checkpoint",
                              "random": "the random stand-in", "oracle": "the oracle"}
DEFAULT_EMBODIMENT = "franka"

# A factory the caller supplies for a name it alone can build (``oracle`` from the sim layer):
# (embodiment, seed) -> model.
Factory = Callable[[Embodiment, int], WorldActionModel]


@dataclass(frozen=True)
class ModelRef:
    """What a ``--model`` spelling names: ``kind`` (a key of :data:`APPLIES`) and, for the
    folder kinds (``default`` is a bundle), the folder."""

    name: str
    kind: str
    path: Path | None = None


def _names() -> str:
    return f"{', '.join(MODEL_NAMES)} or {FOLDERS}"


def find_model(name: str | Path | None, kinds: Sequence[str] | None = None) -> ModelRef:
    """Classify a ``--model`` spelling (None means ``default``); UserError if it names nothing.

    kinds: the kinds the caller can use (default: all); another kind is refused in one line.
    """
    text = "default" if name is None else str(name)
    if text == "default":
        from cosmos_policy.models.checkpoint import default_model_path

        ref = ModelRef(text, "bundle", default_model_path())  # one line naming the fix if absent
    elif text in MODEL_NAMES:
        ref = ModelRef(text, text)
    else:
        path = Path(text)
        if not path.is_dir():
            raise UserError(f"--model {text}: no such folder; valid: {_names()}")
        from cosmos_policy.models.cosmos3_policy import is_policy_folder
        from cosmos_policy.models.cosmos3_use import is_cosmos3

        if is_policy_folder(path):  # before is_cosmos3: a policy folder is a Cosmos 3 one too
            ref = ModelRef(text, "cosmos3-policy", path)
        elif is_cosmos3(path):
            ref = ModelRef(text, "cosmos3", path)
        elif any(path.glob("*.onnx")) or any(path.glob("*.plan")):
            ref = ModelRef(text, "engine", path)
        elif (path / "manifest.json").is_file() and (path / "model.safetensors").is_file():
            ref = ModelRef(text, "bundle", path)
        else:
            raise UserError(f"--model {text}: not {FOLDERS} (no manifest.json with weights "
                            "or graphs); train one with `cosmos-policy train DATASET --out DIR`")
    if kinds is not None and ref.kind not in kinds:
        raise UserError(f"--model {text} is {KIND_WORDS[ref.kind]}; this command takes "
                        f"{' or '.join(KIND_WORDS[k] for k in kinds)}")
    return ref


def available_backends() -> list[str]:
    """The :data:`BACKENDS` whose packages and hardware are present here (with ``auto``)."""
    from cosmos_policy.engine.backends import available_backends as engine_backends

    return ["auto", *engine_backends()]


def check_backend(backend: str, kind: str, runs_on: Sequence[str] | None = None) -> str:
    """``backend`` if it can run a model of ``kind`` here, else one UserError listing those
    that can. runs_on: the backends the caller itself can drive (default: all)."""
    usable = [b for b in APPLIES[kind] if b in set(available_backends()) or b == "auto"]
    if kind not in ("random", "oracle"):  # stand-ins run no network: nothing to be missing
        usable = [b for b in usable if runs_on is None or b in runs_on or b == "auto"]
    if backend not in usable:
        refuse_backend(backend, f"{KIND_WORDS[kind]} on this machine", usable)
    return backend


def refuse_backend(backend: str, what: str, valid: Sequence[str]) -> None:
    """Raise the one error every command gives for a backend that cannot apply."""
    raise UserError(f"--backend {backend}: not usable for {what}; valid: {', '.join(valid)}")


def model_noise_scale(name: str | Path | None) -> float | None:
    """The initial-noise scale a compact bundle or engine samples with unless told otherwise
    (its manifest's; 1.0 when it names none); None for the other kinds."""
    ref = find_model(name if name is not None else "default")
    if ref.kind == "bundle" and ref.path is not None:
        from cosmos_policy.models.checkpoint import read_manifest, sampler_noise_scale

        return sampler_noise_scale(read_manifest(ref.path), str(ref.path / "manifest.json"))
    if ref.kind == "engine" and ref.path is not None:
        from cosmos_policy.engine.manifest import read_manifest as read_engine_manifest

        return read_engine_manifest(ref.path, verify_hashes=False).noise_scale
    return None


def default_embodiment(name: str | Path | None) -> str:
    """The embodiment a command uses without ``--embodiment``: the model's domain when it
    has exactly one, else :data:`DEFAULT_EMBODIMENT` (franka)."""
    import json

    ref = find_model(name) if name is not None else find_model("default")
    if ref.kind == "bundle" and ref.path is not None:
        domains = json.loads((ref.path / "domains.json").read_text())
        if len(domains) == 1:
            return str(domains[0]["name"])
    if ref.kind == "engine" and ref.path is not None:
        from cosmos_policy.engine.manifest import read_manifest

        return read_manifest(ref.path, verify_hashes=False).embodiment
    return DEFAULT_EMBODIMENT


def load_model(name: str | Path | None, embodiment: Embodiment | str, *,
               backend: str = "auto", seed: int = 0, projector: object | None = None,
               cosmos3: Any = None, steps: int | None = None, noise_scale: float | None = None,
               runs_on: Sequence[str] | None = None,
               factories: Mapping[str, Factory] | None = None,
               guidance: float = 1.0) -> WorldActionModel:
    """The :class:`~cosmos_policy.spec.WorldActionModel` a ``--model`` / ``--backend`` pair
    names, for ``embodiment``.

    seed: sampler seed. projector: the kinematic projector of an end-effector embodiment
    (``random`` builds one when None). cosmos3: the
    :class:`~cosmos_policy.models.cosmos3_use.Cosmos3Options` of a Cosmos 3 folder.
    steps / noise_scale: the compact model's Euler steps (default 10; an engine folder's own
    by default) and initial-noise scale (default: the bundle's or engine's own, 1.0 unless
    its manifest names one).
    runs_on: the backends the caller can drive; ``auto`` then means the first of them.
    factories: models only the caller can build (``oracle``: the sim layer's expert).
    guidance: the compact model's prompt guidance (:class:`~cosmos_policy.policy.wrapper.Policy`;
    1 is none); a Cosmos 3 checkpoint has its own (``--cosmos3-guidance``).
    """
    emb = load_embodiment(embodiment) if isinstance(embodiment, str) else embodiment
    ref = find_model(name)
    if guidance != 1.0 and ref.kind not in ("engine", "bundle"):
        raise UserError(f"--guidance is the compact model's; {ref.kind!r} models take none"
                        + (" (Cosmos 3: --cosmos3-guidance)" if "cosmos3" in ref.kind else ""))
    check_backend(backend, ref.kind, runs_on)
    if backend == "auto" and runs_on:
        backend = runs_on[0]
    if ref.kind == "oracle":
        if not factories or "oracle" not in factories:
            raise UserError("--model oracle reads the simulator; only `cosmos-policy eval` "
                            f"can run it (valid here: {_names()})")
        return factories["oracle"](emb, seed)
    if ref.kind == "random":
        from cosmos_policy.policy.stand_ins import RandomWalkModel

        if projector is None and emb.action_type != "joint":
            from cosmos_policy.kinematics import KinematicProjector

            projector = KinematicProjector(emb)
        return RandomWalkModel(emb, projector, seed=seed)
    if ref.kind == "cosmos3-policy":
        from cosmos_policy.models.cosmos3_policy import load_policy

        return load_policy(ref.path, emb, cosmos3, seed=seed)
    if ref.kind == "cosmos3":
        from cosmos_policy.models.cosmos3_use import load as load_cosmos3

        return load_cosmos3(ref.path, emb, cosmos3, seed=seed)
    if ref.kind == "engine":  # as it was built (steps: the manifest's unless given)
        from cosmos_policy.policy.compact import EngineModel

        return EngineModel(ref.path, backend, seed=seed, steps=steps, noise_scale=noise_scale,
                           guidance=guidance)
    steps = 10 if steps is None else steps
    if backend == "torch":
        from cosmos_policy.policy.compact import load_model as load_compact

        return load_compact(ref.path, emb.name, seed=seed, noise_scale=noise_scale,
                            steps=steps, guidance=guidance)
    from cosmos_policy.policy.default import default_engine

    return default_engine(emb.name, model=ref.path,
                          backend="onnxruntime" if backend == "auto" else backend,
                          seed=seed, noise_scale=noise_scale, steps=steps, guidance=guidance)
