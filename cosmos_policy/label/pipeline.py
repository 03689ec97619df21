"""``label``: the whole run - detect, label (1 process, a process pool or Ray), assemble.

    OUT.partial/run.json               settings of this run (a resume must match them)
    OUT.partial/episodes/<id>/DONE     one finished shard per labelled episode
    OUT.partial/dataset/               the LeRobot dataset being assembled
    OUT/                               appears only when complete; OUT.partial is removed

A run that fails keeps OUT.partial when it holds finished episodes (rerunning the same command
resumes from them; the error says so) and removes it when it holds none, so a run that
failed before labelling anything leaves nothing behind.

The input is only ever opened for reading, and OUT may not lie inside it.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from cosmos_policy import __version__
from cosmos_policy.data.atomic import disk_full, is_disk_full
from cosmos_policy.data.atomic import write_text as write_atomic
from cosmos_policy.errors import UserError
from cosmos_policy.label import shards
from cosmos_policy.label.assemble import assemble
from cosmos_policy.label.readers import detect_format, list_episodes
from cosmos_policy.label.worker import Labeller, Settings, init_process, run_in_process
from cosmos_policy.models.checkpoint import default_model_path, sha256


def model_identity(model: str | None) -> dict[str, str]:
    """Hashes from the bundle's manifest (weights file and the manifest itself), or a Cosmos 3
    folder's identity (:func:`cosmos_policy.models.cosmos3_use.identity`)."""
    from cosmos_policy.models.cosmos3_use import identity, is_cosmos3

    if is_cosmos3(model):
        return identity(model)  # type: ignore[arg-type]
    root = Path(model) if model else default_model_path()
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise UserError(f"no model bundle at {root} (manifest.json missing); pass --model PATH"
                        " or train one with `cosmos-policy train`")
    data = json.loads(manifest.read_text())
    return {"path": str(root.resolve()),
            "weights_sha256": data.get("files", {}).get("model.safetensors", ""),
            "manifest_sha256": sha256(manifest)}


def _check_paths(src: Path, out: Path) -> None:
    s, o = src.resolve(), out.resolve()
    if o == s or s in o.parents or o in s.parents:
        raise UserError(f"OUT ({out}) must lie outside IN ({src}) and not contain it; the "
                        "input is never written")


def _local(settings: Settings, keys: list[str]) -> Iterator[dict[str, Any]]:
    labeller = Labeller(settings)
    for key in keys:
        yield labeller.run(key)


def _pool(settings: Settings, keys: list[str], workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                             initializer=init_process, initargs=(settings,)) as pool:
        futures = [pool.submit(run_in_process, k) for k in keys]
        try:
            for fut in as_completed(futures):
                yield fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _ray(settings: Settings, keys: list[str], workers: int,
         address: str) -> Iterator[dict[str, Any]]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise UserError("--ray needs Ray: pip install 'cosmos-policy[dist]'") from exc
    started = False
    if not ray.is_initialized():
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
        started = True
    try:
        actor = ray.remote(num_cpus=1)(Labeller)
        pool = ActorPool([actor.remote(settings) for _ in range(workers)])
        for key in keys:
            pool.submit(lambda a, k: a.run.remote(k), key)
        while pool.has_next():
            yield pool.get_next_unordered()
    finally:
        if started:
            ray.shutdown()


def label(src: Path, out: Path, embodiment: str, *, model: str | None = None,
          workers: int = 1, ray_address: str | None = None, samples: int = 4, seed: int = 0,
          steps: int = 10, cycle: bool = True, cycle_min_psnr: float = 20.0,
          camera_map: dict[str, str] | None = None, overwrite: bool = False,
          restart: bool = False, progress: bool = True,
          cosmos3: Any = None) -> dict[str, Any]:
    """Label every episode of ``src`` into a LeRobot v3 dataset at ``out``; returns the
    summary (also written to ``out/meta/label_summary.json``)."""
    src, out = Path(src), Path(out)
    _check_paths(src, out)
    if out.exists() and not overwrite:
        raise UserError(f"{out} already exists; choose another folder or pass --overwrite")
    if workers < 1:
        raise UserError("--workers must be at least 1")
    fmt = detect_format(src)
    keys = list_episodes(fmt, src)
    ident = model_identity(model)
    settings = Settings(input=str(src.resolve()), format=fmt, model=model,
                        embodiment=embodiment, samples=samples, seed=seed, steps=steps,
                        cycle=cycle, cycle_min_psnr=cycle_min_psnr,
                        camera_map=dict(camera_map or {}),
                        threads=max(1, (os.cpu_count() or 1) // workers) if workers > 1 else 0,
                        cosmos3=cosmos3)
    run_id = {"input": settings.input, "format": fmt, "model": ident, "embodiment": embodiment,
              "samples": samples, "seed": seed, "steps": steps, "cycle": cycle,
              "cycle_min_psnr": cycle_min_psnr, "camera_map": settings.camera_map}
    work = out.with_name(out.name + ".partial")
    if restart:
        shutil.rmtree(work, ignore_errors=True)
    try:
        with disk_full(work, "label"):
            resumed = shards.check_run(work, run_id)
            return _run(src, out, work, keys, settings, ident, resumed, workers, ray_address,
                        progress)
    except BaseException as exc:
        _after_failure(work, exc)
        raise


def _after_failure(work: Path, exc: BaseException) -> None:
    """Keep ``work`` if it can resume the run (and say so in the error), else remove it."""
    saved = len(shards.finished(work))
    if saved == 0:  # nothing to resume from
        shutil.rmtree(work, ignore_errors=True)
        return
    free = " after freeing space" if is_disk_full(exc) else ""
    note = (f"{saved} labelled episode(s) are kept in {work}: rerun the same command{free} to "
            f"resume, or pass --restart to start over")
    if isinstance(exc, UserError):
        exc.args = (f"{exc}; {note}",)
    else:
        print(f"label stopped: {note}", file=sys.stderr)


def _run(src: Path, out: Path, work: Path, keys: list[str], settings: Settings,
         ident: dict[str, str], resumed: bool, workers: int, ray_address: str | None,
         progress: bool) -> dict[str, Any]:
    """Label the episodes without a finished shard, then assemble OUT from every shard."""
    fmt, embodiment = settings.format, settings.embodiment
    samples, seed, steps = settings.samples, settings.seed, settings.steps
    cycle, cycle_min_psnr = settings.cycle, settings.cycle_min_psnr
    done = shards.finished(work)
    todo = [k for k in keys if shards.shard_id(k) not in done]
    reused = [k for k in keys if shards.shard_id(k) in done]

    skipped: list[dict[str, Any]] = []
    frames, t0 = 0, time.perf_counter()
    # Episodes are the unit: their frame counts are unknown until each is read.
    bar = tqdm(total=len(todo), desc=f"label {src.name}", unit="episode",
               disable=not progress)
    bar.set_postfix(frames=0, reused=len(reused))
    if ray_address:
        results = _ray(settings, todo, workers, ray_address)
    elif workers > 1 and len(todo) > 1:
        results = _pool(settings, todo, workers)
    else:
        results = _local(settings, todo) if todo else iter(())
    try:
        for result in results:
            if result["status"] == "labelled":
                shards.write_shard(work, result)
                frames += result["frames"]
            else:
                skipped.append({"key": result["key"], "reason": result["reason"]})
                bar.write(f"skipped {result['key']}: {result['reason']}")
            bar.set_postfix(frames=frames, reused=len(reused))
            bar.update(1)
    finally:
        bar.close()
    label_s = time.perf_counter() - t0

    finished = shards.finished(work)
    ready = [k for k in keys if shards.shard_id(k) in finished]
    provenance = {"cosmos_policy": {"source": "inverse-dynamics labels", "label": {
        "model": ident, "embodiment": embodiment,
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source_path": settings.input, "source_format": fmt,
        "cosmos_policy_version": __version__, "samples": samples, "seed": seed,
        "steps": steps, "cycle_min_psnr": cycle_min_psnr if cycle else None}}}
    robot_type = _robot_type(embodiment)
    t1 = time.perf_counter()
    if not ready:
        raise UserError(f"no episode of {src} could be labelled ({len(skipped)} skipped, "
                        f"first reason: {skipped[0]['reason'] if skipped else 'none'})")
    # Assembled inside work and moved to OUT only with its summary written: a full disk or a
    # kill before that leaves no OUT that looks complete.
    path, records = assemble(work, work / "complete", ready, fmt=fmt, source=src,
                             robot_type=robot_type, provenance=provenance, skipped=skipped)
    summary = _write_summary(path / "meta" / "label_summary.json", records, skipped, reused,
                             frames, label_s, time.perf_counter() - t1)
    summary["resumed"] = resumed
    if out.exists():  # --overwrite: the old dataset goes only now
        shutil.rmtree(out)
    os.replace(path, out)
    shutil.rmtree(work, ignore_errors=True)
    return summary


def _robot_type(embodiment: str) -> str:
    from cosmos_policy.embodiment import available_embodiments, load_embodiment

    if embodiment in available_embodiments():
        return load_embodiment(embodiment).robot_type
    return embodiment


def _write_summary(path: Path, records: list[dict[str, Any]], skipped: list[dict[str, Any]],
                   reused: list[str], frames: int, label_s: float,
                   assemble_s: float) -> dict[str, Any]:
    flagged = [r["source_id"] for r in records if (r.get("cycle") or {}).get("ok") is False]
    summary = {"labelled": records, "skipped": skipped, "reused_shards": reused,
               "cycle_failed": flagged, "frames_labelled_this_run": frames,
               "label_seconds": round(label_s, 3), "assemble_seconds": round(assemble_s, 3),
               "frames_per_second": round(frames / label_s, 2) if label_s > 0 else None}
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(summary, indent=2))
    return summary
