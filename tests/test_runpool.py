"""compare and train --cv in worker processes and on a Dask cluster: the same results as one run after another."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from animalsnd.cli import app
from animalsnd.compare import compare
from animalsnd.errors import ConfigError
from animalsnd.runpool import Pool, RunFailed, check_store, pool_for, run_many
from animalsnd.train import TrainConfig, train
from cliassert import one_error_line
from conftest_train import FAST, FAST_CLI, tiny, trained_cv  # noqa: F401
from test_parallel import cluster  # noqa: F401  (a 2-worker LocalCluster)

RUNS = dict(variants="baseline,enhanced-no-noise", folds=2, seeds=1, train_options=FAST)
SCORES = ("accuracy", "macro_f1", "weighted_f1", "confusion", "per_class_f1", "epochs_run", "n_train")


def _copy(tiny, tmp_path, name):
    dst = tmp_path / name
    shutil.copytree(tiny["cache"], dst)
    shutil.rmtree(dst / "compare", ignore_errors=True)
    return dst


def _scores(res) -> dict:
    return {(v, r["fold"], r["seed"]): {k: r[k] for k in SCORES} for v, runs in res.runs.items() for r in runs}


def test_compare_same_table_sequential_jobs_and_cluster(tiny, tmp_path, cluster):
    seq = compare(_copy(tiny, tmp_path, "seq"), jobs=1, **RUNS)
    assert os.environ["TF_NUM_INTRAOP_THREADS"] == "1"  # this process trains with a worker's threads
    seen = []
    par = compare(_copy(tiny, tmp_path, "par"), jobs=2, on_run=seen.append, **RUNS)
    on_dask = compare(_copy(tiny, tmp_path, "dask"), backend="dask", scheduler=cluster.scheduler_address, **RUNS)
    assert seq.trained == par.trained == on_dask.trained == 4
    assert _scores(seq) == _scores(par) == _scores(on_dask)
    assert [r.done for r in seen] == [1, 2, 3, 4] and all(r.total == 4 and not r.reused for r in seen)
    # the aggregate table, too (run order inside a variant is fixed: fold, seed)
    drop = ("train_seconds", "infer_ms_per_clip", "runs")
    table = [{v: {k: x for k, x in s.items() if k not in drop} for v, s in r.summary()["variants"].items()}
             for r in (seq, par, on_dask)]
    assert table[0] == table[1] == table[2]
    # the workers wrote the records themselves, in the cache's run store
    assert len(list((tmp_path / "dask" / "compare" / "runs").glob("*.json"))) == 4


def test_interrupted_parallel_compare_resumes_with_the_missing_runs(tiny, tmp_path):
    cache = _copy(tiny, tmp_path, "c")

    def stop(info):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        compare(cache, jobs=2, on_run=stop, **RUNS)
    stored = len(list((cache / "compare" / "runs").glob("*.json")))
    assert 1 <= stored <= 4
    res = compare(cache, jobs=2, **RUNS)
    assert (res.reused, res.trained) == (stored, 4 - stored)


def test_train_cv_folds_in_workers_equal_sequential(tiny, trained_cv, tmp_path, cluster):
    config = TrainConfig.for_model("cnn1d", **FAST)
    seq = json.loads((trained_cv / "cv.json").read_text())
    for where, opts in [("jobs", dict(cv_jobs=2)), ("dask", dict(backend="dask", scheduler=cluster.scheduler_address))]:
        done = []
        run = train(tiny["cache"], tmp_path / where, config=config, cv=True, on_fold_end=done.append, **opts)
        assert sorted(r.fold for r in done) == [0, 1, 2, 3]
        got = run.summary()
        assert [{k: f[k] for k in f if k != "train_seconds"} for f in got["folds"]] == \
               [{k: f[k] for k in f if k != "train_seconds"} for f in seq["folds"]]
        for k in range(4):  # the same weights' history, to the last bit
            a = json.loads((trained_cv / f"fold-{k}" / "bundle.json").read_text())
            b = json.loads((tmp_path / where / f"fold-{k}" / "bundle.json").read_text())
            assert a.get("history") == b.get("history") and a["metrics"]["accuracy"] == b["metrics"]["accuracy"]


def _dies_once(marker: str, x: int) -> int:
    if x == 1 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(3)  # the worker process is lost mid-run
    return 10 * x


def _always_dies(x: int) -> int:
    os._exit(3)


def test_a_lost_worker_run_is_run_again(tmp_path):
    got = {}
    run_many(_dies_once, [(str(tmp_path / "m"), x) for x in range(3)], Pool(jobs=2),
             on_done=got.__setitem__, name=str)
    assert got == {0: 0, 1: 10, 2: 20}
    with pytest.raises(RunFailed, match=r"^2 of 2 run\(s\) failed, first 0 \(its worker was lost twice\)"):
        run_many(_always_dies, [(1,), (2,)], Pool(jobs=2), on_done=got.__setitem__, name=str)


def test_bad_input(tiny, tmp_path, runner, monkeypatch):
    for jobs in (0, -2):
        with pytest.raises(ConfigError, match=rf"^--jobs {jobs} must be a positive integer or -1"):
            pool_for(jobs)
    if pytest.importorskip("dask.distributed"):
        with pytest.raises(ConfigError, match=r"^cannot reach the Dask scheduler at tcp://127.0.0.1:1 "):
            pool_for(2, "dask", "tcp://127.0.0.1:1")
    store = tmp_path / "compare" / "runs"
    check_store(store)
    check_store(store)  # ours
    (store.parent / "store.json").write_text(json.dumps({"format": 2, "animalsnd_version": "9.0"}))
    with pytest.raises(ConfigError, match=r"run store written by animalsnd 9.0 \(store format 2\)"):
        check_store(store)
    cache = _copy(tiny, tmp_path, "c")
    base = ["compare", str(cache), "--variants", "baseline", "--folds", "2", "--epochs", "2"]
    one_error_line(runner.invoke(app, [*base, "--jobs", "0"]), "--jobs 0")
    one_error_line(runner.invoke(app, [*base, "--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"]),
                   "cannot reach the Dask scheduler")
    (cache / "compare").mkdir()
    (cache / "compare" / "store.json").write_text(json.dumps({"format": 2, "animalsnd_version": "9.0"}))
    one_error_line(runner.invoke(app, [*base, "--jobs", "2"]), "run store written by animalsnd 9.0")
    train_cmd = ["train", str(cache), "--model", "cnn1d", "--out", str(tmp_path / "m"), "--cv", *FAST_CLI]
    one_error_line(runner.invoke(app, [*train_cmd, "--jobs", "-3"]), "--jobs -3")
    monkeypatch.setattr("animalsnd.parallel.dask_installed", lambda: False)
    one_error_line(runner.invoke(app, [*train_cmd, "--backend", "dask", "--scheduler", "local"]),
                   'pip install -e ".[dask]"')


def test_cli_compare_jobs_shows_runs_as_they_finish(tiny, tmp_path, runner):
    cache = _copy(tiny, tmp_path, "c")
    res = runner.invoke(app, ["compare", str(cache), "--variants", "baseline", "--folds", "3", "--jobs", "2",
                              "--epochs", "2"])
    assert res.exit_code == 0, res.output
    assert "on 2 worker processes, 1 TensorFlow thread(s) each" in res.output
    assert sum("baseline fold" in line and "accuracy" in line for line in res.output.splitlines()) == 3
    assert "trained 3 run(s), reused 0" in res.output
