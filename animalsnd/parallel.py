"""Run per-file work in parallel: local processes (loky) or a Dask cluster.

Both go through joblib, so the same task functions run everywhere. Task
functions are expected to catch their own per-item errors and return them as
results; a task that still raises (for example a lost worker) is reported as
a :class:`TaskFailure` in its slot and the others complete.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from animalsnd.errors import ConfigError

BACKENDS = ("local", "dask")
#: seconds an idle loky worker waits before exiting (joblib's default, 300 s, kept workers
#: alive for minutes after the parent was killed)
IDLE_WORKER_TIMEOUT = 10
SCHEDULER_ENV = "ANIMALSND_DASK_SCHEDULER"
Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class TaskFailure:
    """Stands in the results for a task that raised instead of returning."""

    error: str
    #: the task never finished because its worker or the pool was lost (worth a retry)
    lost: bool = False


def dask_installed() -> bool:
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        return False
    return True


def check_jobs(jobs: object, option: str = "--jobs") -> None:
    """``jobs`` is -1 (all cores) or a positive integer."""
    if not isinstance(jobs, int) or isinstance(jobs, bool) or jobs == 0 or jobs < -1:
        raise ConfigError(f"{option} {jobs!r} must be a positive integer or -1 (all cores)")


def check_backend(backend: str, scheduler: str | None = None) -> tuple[str, str | None]:
    """Validate ``--backend``/``--scheduler`` early, before any work starts."""
    if backend not in BACKENDS:
        raise ConfigError(f"backend={backend!r} is not one of: {', '.join(BACKENDS)}")
    if backend == "local":
        return backend, None
    if not dask_installed():
        raise ConfigError('the dask backend needs the dask extra: pip install -e ".[dask]"')
    address = scheduler or os.environ.get(SCHEDULER_ENV)
    if not address:
        raise ConfigError(
            f"--backend dask needs --scheduler ADDRESS (e.g. tcp://10.0.0.5:8786), "
            f"the {SCHEDULER_ENV} environment variable, or --scheduler local"
        )
    return backend, address


@contextlib.contextmanager
def dask_client(address: str) -> Iterator[object]:
    """Connect to a scheduler (or start a LocalCluster for ``'local'``)."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    try:
        if address == "local":
            cluster = LocalCluster(host="127.0.0.1", dashboard_address=None, threads_per_worker=1)
            client = Client(cluster)
        else:
            client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
    try:
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _guarded(i: int, func: Callable, args: tuple):
    try:
        return i, func(*args)
    except Exception as exc:  # an unexpected failure stays in its slot
        return i, TaskFailure(f"{type(exc).__name__}: {exc}"[:300])


def run_parallel(
    func: Callable,
    tasks: list[tuple],
    *,
    jobs: int = -1,
    backend: str = "local",
    scheduler: str | None = None,
    progress: Progress | None = None,
    on_result: Callable[[int, object], None] | None = None,
    serial_below: int = 3,
) -> list:
    """Run ``func(*task)`` for every task; results come back in task order.

    ``backend='local'`` uses joblib's loky processes (``jobs`` workers; small
    batches or ``jobs == 1`` run in this process). ``backend='dask'`` sends the
    same calls to a Dask cluster through joblib's dask backend; workers must
    see the same paths (shared storage). A task that raises becomes a
    :class:`TaskFailure`; if the cluster itself fails mid-run, every
    unfinished task does, and whatever finished is kept.

    ``on_result(i, result)`` is called for each task as it finishes (any
    order). Local batches smaller than ``serial_below`` tasks run in this process.
    """
    from joblib import Parallel, delayed, parallel_config

    backend = backend or "local"
    if backend == "loky":
        backend = "local"
    backend, address = check_backend(backend, scheduler)
    check_jobs(jobs)
    total = len(tasks)
    results: list = [None] * total
    if progress:
        progress(0, total)
    if total == 0:
        return results
    if backend == "local" and (jobs == 1 or total < serial_below):
        for i, t in enumerate(tasks):
            results[i] = _guarded(i, func, t)[1]
            if on_result:
                on_result(i, results[i])
            if progress:
                progress(i + 1, total)
        return results

    done_flags = [False] * total
    ctx = dask_client(address) if backend == "dask" else contextlib.nullcontext()
    n = 0
    with ctx:
        cfg = ({"backend": "dask"} if backend == "dask"
               else {"backend": "loky", "n_jobs": jobs, "idle_worker_timeout": IDLE_WORKER_TIMEOUT})
        try:
            with parallel_config(**cfg):
                gen = Parallel(n_jobs=-1 if backend == "dask" else jobs, return_as="generator_unordered")(
                    delayed(_guarded)(i, func, t) for i, t in enumerate(tasks)
                )
                for i, res in gen:
                    results[i] = res
                    done_flags[i] = True
                    n += 1
                    if on_result:
                        on_result(i, res)
                    if progress:
                        progress(n, total)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # the pool or cluster broke: keep what finished
            reason = f"task lost ({type(exc).__name__}: {exc})"[:300]
            for i, ok in enumerate(done_flags):
                if not ok:
                    results[i] = TaskFailure(reason, lost=True)
    return results
