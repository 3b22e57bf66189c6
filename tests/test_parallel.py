"""Local and Dask backends give the same results; one failing task never sinks the run."""

import operator

import numpy as np
import pytest

from animalsnd.cache import load_features, prepare, read_manifest
from animalsnd.cli import app
from animalsnd.config import FeatureConfig
from animalsnd.errors import ConfigError
from animalsnd.parallel import TaskFailure, check_backend, run_parallel
from audiogen import make_dataset, write_bad_files

TINY = FeatureConfig(sr=8000, n_mels=16, n_fft=256, hop_length=128, frames=32)


def test_failing_task_is_reported_and_the_rest_complete_locally():
    tasks = [(6, 3), (1, 0), (8, 2), (9, 3)]
    for jobs in (1, 2):
        res = run_parallel(operator.truediv, tasks, jobs=jobs)
        assert res[0] == 2 and res[2] == 4 and res[3] == 3
        assert isinstance(res[1], TaskFailure) and "ZeroDivisionError" in res[1].error


def test_backend_validation(monkeypatch):
    with pytest.raises(ConfigError, match="backend='spark' is not one of: local, dask"):
        check_backend("spark")
    monkeypatch.delenv("ANIMALSND_DASK_SCHEDULER", raising=False)
    if check_backend.__globals__["dask_installed"]():
        with pytest.raises(ConfigError, match="needs --scheduler ADDRESS"):
            check_backend("dask")
    monkeypatch.setattr("animalsnd.parallel.dask_installed", lambda: False)
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[dask\]"'):
        check_backend("dask", "tcp://127.0.0.1:1")


def test_cli_says_how_to_install_dask(runner, tmp_path, monkeypatch):
    monkeypatch.setattr("animalsnd.parallel.dask_installed", lambda: False)
    data = make_dataset(tmp_path / "d", {"a": 300.0, "b": 900.0}, n=4, sr=8000)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--backend", "dask"])
    assert res.exit_code == 1
    assert res.output.strip() == 'Error: the dask backend needs the dask extra: pip install -e ".[dask]"'


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("dask.distributed")
    cl = distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  processes=True, dashboard_address=None)
    yield cl
    cl.close()


def test_dask_failing_task_reported(cluster):
    res = run_parallel(operator.truediv, [(6, 3), (1, 0), (8, 2)], backend="dask",
                       scheduler=cluster.scheduler_address)
    assert res[0] == 2 and res[2] == 4 and isinstance(res[1], TaskFailure)


def test_prepare_on_dask_equals_local(cluster, tmp_path, runner):
    data = make_dataset(tmp_path / "data", {"low": 300.0, "mid": 900.0, "high": 2500.0}, n=6, sr=8000)
    write_bad_files(data / "mid")
    local = prepare(data, tmp_path / "local", cfg=TINY, folds=3, jobs=2)
    args = ["prepare", str(data), "--cache", str(tmp_path / "dask"), "--folds", "3",
            "--sr", "8000", "--n-mels", "16", "--n-fft", "256", "--hop-length", "128", "--frames", "32",
            "--no-trim", "--backend", "dask", "--scheduler", cluster.scheduler_address]  # TINY: whole clips
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert read_manifest(tmp_path / "dask") == read_manifest(tmp_path / "local")
    assert len(local.failed) == len(write_bad_files(tmp_path / "unused"))
    a, b = load_features(tmp_path / "local"), load_features(tmp_path / "dask")
    assert a.X.tobytes() == b.X.tobytes()
    for p in (tmp_path / "local" / "features").rglob("*.npz"):
        q = tmp_path / "dask" / p.relative_to(tmp_path / "local")
        with np.load(p) as x, np.load(q) as y:
            assert x["x"].tobytes() == y["x"].tobytes()
    # a re-run on the cluster finishes only what is missing
    victim = sorted((tmp_path / "dask" / "features").rglob("*.npz"))[0]
    victim.unlink()
    again = prepare(data, tmp_path / "dask", cfg=TINY, folds=3, backend="dask",
                    scheduler=cluster.scheduler_address)
    assert again.computed == 1


def test_augment_on_dask_equals_local(cluster, tmp_path):
    from animalsnd.augment.store import build_augmented, load_augmented
    from test_augment_store import write_noise

    data = make_dataset(tmp_path / "data", {"low": 300.0, "high": 2500.0}, n=5, sr=8000)
    cache = tmp_path / "cache"
    prepare(data, cache, cfg=TINY, folds=3, jobs=1)
    noise = write_noise(tmp_path / "noise")
    build_augmented(cache, noise, per_class=4, name="local", jobs=2)
    build_augmented(cache, noise, per_class=4, name="dask", backend="dask",
                    scheduler=cluster.scheduler_address)
    a, b = load_augmented(cache, "local"), load_augmented(cache, "dask")
    assert a.source_shas == b.source_shas and a.X.tobytes() == b.X.tobytes()
    assert np.array_equal(a.snr_db, b.snr_db)
