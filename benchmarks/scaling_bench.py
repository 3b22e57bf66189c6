"""`prepare` on animal-sounds-10: local processes vs a 2-worker Dask LocalCluster.

    python benchmarks/scaling_bench.py

Cold caches each time. Writes benchmarks/out/scaling_bench.json.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from _common import REAL_DATA, require, write_json


def cold(**kw) -> tuple[float, list[dict]]:
    from animalsnd.cache import prepare, read_manifest

    tmp = Path(tempfile.mkdtemp(prefix="animalsnd-scale-"))
    try:
        t0 = time.perf_counter()
        prepare(REAL_DATA, tmp, **kw)
        return time.perf_counter() - t0, read_manifest(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    require(REAL_DATA)
    from dask.distributed import LocalCluster

    local_s, local_rows = cold(jobs=-1)
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
    try:
        dask_s, dask_rows = cold(backend="dask", scheduler=cluster.scheduler_address)
    finally:
        cluster.close()
    strip = [{k: v for k, v in r.items()} for r in local_rows]
    same = strip == dask_rows
    write_json("scaling_bench.json", {"files": len(local_rows), "local_s": local_s,
                                      "dask_localcluster_2w_s": dask_s, "identical_manifest": same})
    print(f"local (loky, 2 procs) {local_s:.2f} s | dask LocalCluster 2 workers {dask_s:.2f} s | "
          f"identical manifest: {same}")


if __name__ == "__main__":
    main()
