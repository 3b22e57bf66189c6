"""Independent training runs in worker processes or on a Dask cluster.

``compare`` (one run per variant x test fold x seed) and ``train --cv`` (one
run per fold) hand their runs to :func:`run_many`, which schedules them
through :func:`animalsnd.parallel.run_parallel`, the mechanism of ``prepare``:
loky processes for ``--jobs N``, one Dask task per run for ``--backend dask``.
Every run seeds itself from its own key (its seed and test fold), so its result
does not depend on the order or on the worker that ran it. Every run, in a
worker or in this process, uses the same number of TensorFlow intra- and
inter-op threads (:func:`threads_per_run`: 1 unless ``ANIMALSND_TRAIN_THREADS``
says otherwise), so N workers do not oversubscribe the cores and a run's
floating-point results do not change with the number of workers (a
convolution split over another number of threads sums in another order). A
run whose worker is lost is run again once; workers write their results
themselves (compare's run store, the fold bundles), so a run that finished is
never lost.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from animalsnd.errors import AnimalsndError, ConfigError
from animalsnd.parallel import TaskFailure, check_backend, check_jobs, dask_client, run_parallel

#: TensorFlow threads of every run (default 1); the results depend on it, not on the pool
THREADS_ENV = "ANIMALSND_TRAIN_THREADS"
STORE_FORMAT = 1  # compare's run store layout (CACHE/compare/runs/<key>.json records)
_STORE_FILE = "store.json"
_memo: dict = {}  # per worker process: loaded inputs, augmented sets, noisy test inputs


class RunFailed(AnimalsndError):
    """A training run failed in its worker or was lost with it (after a retry)."""


@dataclass(frozen=True)
class Pool:
    """Where the runs go: ``jobs`` local processes, or a Dask scheduler."""

    jobs: int = 1
    backend: str = "local"
    scheduler: str | None = None

    @property
    def workers(self) -> int:
        if self.backend == "dask":
            return 0  # the cluster's
        return (os.cpu_count() or 1) if self.jobs == -1 else self.jobs

    @property
    def parallel(self) -> bool:
        return self.backend == "dask" or self.workers > 1

    def describe(self) -> str:
        if self.backend == "dask":
            return f"Dask scheduler {self.scheduler}"
        n = self.workers
        return f"{n} worker process{'es' * (n != 1)}, {threads_per_run()} TensorFlow thread(s) each"


def pool_for(jobs: int = 1, backend: str = "local", scheduler: str | None = None) -> Pool:
    """Validated pool options; a remote scheduler is reached once here, before any work.

    Raises
    ------
    ConfigError
        ``jobs`` 0 or below -1, an unknown backend, a missing dask extra or
        scheduler address, an unreachable scheduler.
    """
    check_jobs(jobs)
    backend, address = check_backend(backend or "local", scheduler)
    if backend == "dask" and address != "local":
        with dask_client(address):
            pass
    return Pool(jobs=jobs, backend=backend, scheduler=address)


def threads_per_run() -> int:
    """TensorFlow threads of one run: ``ANIMALSND_TRAIN_THREADS`` or 1, whatever the pool."""
    env = os.environ.get(THREADS_ENV, "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ConfigError(f"{THREADS_ENV}={env!r} must be a positive integer")
        return int(env)
    return 1


def bound_this_process() -> None:
    """Give the runs trained in this process the threads of a worker's (call before TensorFlow starts)."""
    limit_threads(threads_per_run())


def limit_threads(n: int) -> None:
    """Bound this process's TensorFlow thread pools (kept if TensorFlow already runs)."""
    import sys

    os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(n)
    tf = sys.modules.get("tensorflow")
    if tf is None:  # read when TensorFlow starts
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:  # initialised by an earlier run in this worker: its setting stays
        pass


def _bounded(threads: int | None, func: Callable, args: tuple):
    if threads is None:  # on a Dask worker: the worker's own setting, read there
        threads = threads_per_run()
    limit_threads(threads)
    return func(*args)


def run_many(func: Callable, tasks: list[tuple], pool: Pool, *, on_done: Callable[[int, object], None],
             name: Callable[[int], str], retries: int = 1) -> None:
    """``func(*task)`` for every task in ``pool``; ``on_done(i, result)`` as each finishes.

    Raises
    ------
    RunFailed
        A run raised in its worker, or its worker was lost ``retries + 1``
        times; every run that finished has been passed to ``on_done``.
    """
    threads = None if pool.backend == "dask" else threads_per_run()
    failed: dict[int, TaskFailure] = {}
    pending = list(range(len(tasks)))
    for attempt in range(retries + 1):
        batch = pending

        def done(j: int, res, batch=batch) -> None:
            if not isinstance(res, TaskFailure):
                on_done(batch[j], res)

        with warnings.catch_warnings():  # loky's notes on a replaced idle worker and on cancelled tasks
            warnings.filterwarnings("ignore", message="A worker stopped while some jobs were given")
            warnings.filterwarnings("ignore", message=".* tasks which were still being processed")
            results = run_parallel(_bounded, [(threads, func, tasks[i]) for i in batch], jobs=pool.jobs,
                                   backend=pool.backend, scheduler=pool.scheduler, on_result=done, serial_below=1)
        failed = {i: r for i, r in zip(batch, results) if isinstance(r, TaskFailure)}
        pending = [i for i, r in failed.items() if r.lost]
        if not pending or attempt == retries:
            break
    if failed:
        i, first = next(iter(failed.items()))
        lost = " (its worker was lost twice)" if first.lost else ""
        raise RunFailed(f"{len(failed)} of {len(tasks)} run(s) failed, first {name(i)}{lost}: {first.error}; "
                        f"the {len(tasks) - len(failed)} finished are stored and a re-run trains only the rest")


def check_store(store: Path, *, create: bool = True) -> None:
    """Refuse a run store laid out by another version; mark a new one as ours (``create``).

    The mark is ``store.json`` beside the ``store`` folder, which holds only run records.

    Raises
    ------
    ConfigError
        ``store`` was written by a version with another store format.
    """
    from animalsnd import __version__
    from animalsnd.cache import atomic_write_text

    path = store.parent / _STORE_FILE
    try:
        info = json.loads(path.read_text())
    except FileNotFoundError:
        info = None
    except (OSError, ValueError):
        info = {}
    if info is None:
        if not create:
            return
        store.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": STORE_FORMAT, "animalsnd_version": __version__}) + "\n")
    elif not isinstance(info, dict) or info.get("format") != STORE_FORMAT:
        got = info.get("animalsnd_version", "an unknown version") if isinstance(info, dict) else "an unknown version"
        raise ConfigError(f"{store}: run store written by animalsnd {got} (store format "
                          f"{info.get('format') if isinstance(info, dict) else '?'}), this version reads format "
                          f"{STORE_FORMAT}; move the folder aside or use that version")


# ------------------------------------------------------------------ worker side
def once(key: tuple, make: Callable):
    """Per-process memo of what every run of a worker reads (inputs, augmented sets)."""
    if key not in _memo:
        if len(_memo) >= 6:
            _memo.pop(next(iter(_memo)))
        _memo[key] = make()
    return _memo[key]


def cache_stamp(cache_dir: Path) -> tuple:
    """When the cache was last prepared (its config and manifest times): part of what a worker memoises under."""
    return tuple(os.stat(cache_dir / n).st_mtime_ns for n in ("config.json", "manifest.csv"))
