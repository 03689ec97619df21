"""Episodes of an evaluation in this process, in a process pool, or on a Ray cluster.

Each worker builds its evaluator (:func:`~cosmos_policy.sim.evaluate.make_evaluator`: env,
model, safety pieces) once and runs the seeds it is given; seeds below
``config.seed + config.videos`` are recorded for the report's videos. A progress bar counts
finished episodes.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

from tqdm import tqdm

from cosmos_policy.errors import UserError
from cosmos_policy.sim.evaluate import EpisodeRun, EvalConfig, Evaluator, make_evaluator

_WORKER: Evaluator | Any = None


def _init_worker(config: EvalConfig, threads: int) -> None:
    global _WORKER
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # the onnxruntime path does not need torch threads
        pass
    _WORKER = make_evaluator(config)


def _run_seed(seed: int, record: bool) -> EpisodeRun:
    assert _WORKER is not None, "worker not initialised"
    return _WORKER.run_episode(seed, record)


class RayEvaluator:
    """A Ray actor body: one Evaluator per actor."""

    def __init__(self, config: EvalConfig) -> None:
        _init_worker(config, 1)

    def run(self, seed: int, record: bool) -> EpisodeRun:
        return _run_seed(seed, record)


def _serial(config: EvalConfig, seeds: list[int], record: Callable[[int], bool]
            ) -> Iterator[EpisodeRun]:
    evaluator = make_evaluator(config)
    try:
        for seed in seeds:
            yield evaluator.run_episode(seed, record(seed))
    finally:
        evaluator.close()


def _pool(config: EvalConfig, seeds: list[int], record: Callable[[int], bool], workers: int
          ) -> Iterator[EpisodeRun]:
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_init_worker, initargs=(config, threads)) as pool:
        futures = [pool.submit(_run_seed, s, record(s)) for s in seeds]
        for future in as_completed(futures):
            yield future.result()


def _ray(config: EvalConfig, seeds: list[int], record: Callable[[int], bool], workers: int,
         address: str) -> Iterator[EpisodeRun]:
    try:
        import ray
        from ray.util import ActorPool
    except ImportError as exc:
        raise UserError("--ray needs Ray: pip install 'cosmos-policy[dist]'") from exc
    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        actor = ray.remote(num_cpus=1)(RayEvaluator)
        pool = ActorPool([actor.remote(config) for _ in range(workers)])
        yield from pool.map_unordered(lambda a, s: a.run.remote(s, record(s)), seeds)
    finally:
        if started:
            ray.shutdown()


def run_episodes(config: EvalConfig, *, workers: int = 1, ray_address: str | None = None,
                 progress: bool = True) -> list[EpisodeRun]:
    """All episodes of ``config`` (seeds ``config.seeds()``), sorted by seed.

    workers: processes (or Ray actors); ray_address: ``local`` or a cluster address.
    """
    if workers < 1:
        raise UserError("--workers must be at least 1")
    seeds = config.seeds()
    first_unrecorded = config.seed + config.videos

    def record(seed: int) -> bool:
        return seed < first_unrecorded

    if ray_address:
        it = _ray(config, seeds, record, workers, ray_address)
    elif workers > 1:
        it = _pool(config, seeds, record, min(workers, len(seeds)))
    else:
        it = _serial(config, seeds, record)
    runs: list[EpisodeRun] = []
    done = 0
    with tqdm(total=len(seeds), desc=f"eval {config.task}/{config.embodiment}",
              disable=not progress) as bar:
        for run in it:
            runs.append(run)
            done += run.success
            bar.update(1)
            bar.set_postfix(success=f"{done}/{len(runs)}")
    return sorted(runs, key=lambda r: r.seed)
