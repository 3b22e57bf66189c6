"""`animalsnd compare`: table, files, figures, resuming and one-line errors."""

import csv
import io
import json

import pytest
from test_compare import _memo, make_compare_cache

from animalsnd.cli import app


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    import shutil

    if "base" not in _memo:
        _memo["base"] = make_compare_cache(tmp_path_factory.mktemp("compare-base"))
    root = tmp_path_factory.mktemp("cli-compare")
    shutil.copytree(_memo["base"]["cache"], root / "cache")
    return {**_memo["base"], "cache": root / "cache", "root": root}


@pytest.fixture(scope="module")
def first(env):
    from typer.testing import CliRunner

    r = env["root"]
    args = ["compare", str(env["cache"]), "--variants", "baseline,enhanced", "--noise", str(env["noise"]),
            "--folds", "2", "--epochs", "1", "--jobs", "1", "--eval-noise", str(env["noise"]),
            "--eval-snr", "10,0", "--out", str(r / "table.md"), "--json", str(r / "c.json"),
            "--plots", str(r / "figs")]
    return CliRunner().invoke(app, args), args


def test_table_files_and_figures(first, env):
    res, _ = first
    assert res.exit_code == 0, res.output
    out = res.output
    assert "2 variant(s) x 2 fold(s) x 1 seed(s) = 4 runs; 0 already stored" in out
    assert "calibrated noise copies: augmented set 'calibrated'" in out
    for head in ("accuracy", "weighted", "macro", "@10dB", "@0dB", "params", "ms/"):
        assert head in out
    assert "baseline fold 1 seed 0: accuracy" in out
    assert "trained 4 run(s), reused 0 from" in out
    r = env["root"]
    md = (r / "table.md").read_text().splitlines()
    assert md[0].startswith("| variant | accuracy | weighted F1 | macro F1 | macro − weighted | acc@10dB | acc@0dB |")
    assert [line.split(" | ")[0] for line in md[2:]] == ["| baseline", "| enhanced"]
    assert "**" in "".join(md[2:])  # best values in bold
    s = json.loads((r / "c.json").read_text())
    assert list(s["variants"]) == ["baseline", "enhanced"]
    for v in s["variants"].values():
        for k in ("accuracy", "macro_f1", "weighted_f1"):
            assert set(v[k]) == {"mean", "std"}
        assert len(v["runs"]) == 2
    for png in ("compare_accuracy.png", "compare_f1.png", "compare_per_class_f1.png", "compare_noise.png"):
        assert (r / "figs" / png).read_bytes()[:4] == b"\x89PNG"


def test_rerun_trains_nothing_and_writes_csv(first, env, runner):
    _, args = first
    csv_out = env["root"] / "table.csv"
    res = runner.invoke(app, [*args[:-6], "--out", str(csv_out)])
    assert res.exit_code == 0, res.output
    assert "4 runs; 4 already stored" in res.output and "trained 0 run(s), reused 4" in res.output
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text())))
    assert [r["variant"] for r in rows] == ["baseline", "enhanced"]
    assert {"accuracy_mean", "accuracy_std", "macro_f1_mean", "acc@10dB_mean", "params"} <= set(rows[0])
    assert rows[1]["augment"] == "calibrated" and int(rows[0]["n_runs"]) == 2


def test_report_only_lists_missing_runs(first, env, runner):
    _, args = first
    res = runner.invoke(app, [*args[:-6], "--seeds", "2", "--report-only"])
    assert res.exit_code == 0, res.output
    assert "trained 0 run(s), reused 4" in res.output
    assert "Warning: baseline: 2 of 4 runs not stored yet" in res.output


def test_ctrl_c_keeps_finished_runs(env, runner, monkeypatch):
    import animalsnd.compare.run

    real, calls = animalsnd.compare.run._train_one, []

    def interrupt_second(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(animalsnd.compare.run, "_train_one", interrupt_second)
    # --jobs 1: the runs in this process, where _train_one is patched
    args = ["compare", str(env["cache"]), "--variants", "baseline", "--folds", "2", "--epochs", "2", "--jobs", "1"]
    res = runner.invoke(app, args)
    assert res.exit_code == 130
    store = env["cache"] / "compare" / "runs"
    assert res.output.strip().splitlines()[-1] == (
        f"Error: interrupted; 1 run(s) finished in this call are stored in {store} and a re-run resumes from there")
    monkeypatch.setattr(animalsnd.compare.run, "_train_one", real)
    res = runner.invoke(app, args)
    assert res.exit_code == 0 and "trained 1 run(s), reused 1" in res.output


def _error(res) -> str:
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 1, res.output
    assert len(lines) == 1, res.output
    return lines[0]


def test_unknown_variant_lists_variants_then_models(env, runner):
    line = _error(runner.invoke(app, ["compare", str(env["cache"]), "--variants", "baseline,owl"]))
    assert line.startswith(
        "Error: unknown variant(s) owl; available: baseline, simple-noise, alexnet-mel, transformer-mel, enhanced, "
        "enhanced-no-noise, enhanced-no-specaugment, enhanced-no-class-weights, cnn1d, cnn1d-enhanced")


@pytest.mark.parametrize("extra, message", [
    (["--variants", "simple-noise"], "Error: variant(s) simple-noise need --noise NOISE_DIR (variants without noise: "
     "baseline, alexnet-mel, transformer-mel, enhanced-no-noise)"),
    (["--variants", "baseline", "--folds", "9"], "Error: --folds '9' must be between 1 and the cache's 3 folds (or 'all')"),
    (["--variants", "baseline", "--out", "t.txt"], "Error: --out t.txt: the file name must end in .md, .csv or .json"),
    (["--variants", "baseline", "--eval-snr", "10,,0"],
     "Error: SNR list '10,,0' must be comma-separated numbers, like 20,10,5,0"),
    (["--variants", "enhanced", "--per-class", "0"], "Error: --per-class 0 must be a positive integer"),
])
def test_bad_options_are_one_line(env, runner, extra, message):
    assert _error(runner.invoke(app, ["compare", str(env["cache"]), *extra])) == message


def test_not_a_cache_and_bad_noise(env, runner, tmp_path):
    assert _error(runner.invoke(app, ["compare", str(tmp_path), "--variants", "baseline"])) == (
        f"Error: {tmp_path}: not a feature cache (no config.json; run `animalsnd prepare` first)")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = runner.invoke(app, ["compare", str(env["cache"]), "--variants", "enhanced", "--noise", str(empty)])
    assert _error(res) == f"Error: {empty}: no audio files in the noise folder (expected *.wav|flac|ogg|mp3)"
