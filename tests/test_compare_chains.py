"""`compare --eval-chain`: every run scored through recording chains, the worst chain's drop in the table."""

import json

import pytest
from rich.console import Console
from test_cli_compare import env  # noqa: F401  (a fresh copy of the compare cache for this module)
from test_compare import FAST
from test_tables_fit import VARIANTS, summary as fit_summary

from animalsnd.cli import app
from animalsnd.compare import compare
from animalsnd.errors import ConfigError

OPTS = dict(variants="baseline", folds=1, seeds=1, epochs=1, jobs=1)


@pytest.fixture(scope="module")
def first(env):
    from typer.testing import CliRunner

    r = env["root"]
    args = ["compare", str(env["cache"]), "--variants", "baseline", "--folds", "1", "--epochs", "8", "--jobs", "1",
            "--eval-chain", "8k,mp3", "--out", str(r / "table.md"), "--json", str(r / "c.json")]
    return CliRunner().invoke(app, args)


def test_chain_column_and_per_chain_means(first, env):
    assert first.exit_code == 0, first.output
    head = [ln.split() for ln in first.output.splitlines()]
    assert ["worst"] in head and any(ln[:1] == ["variant"] and "drop" in ln for ln in head)  # its 3-line header
    assert "acc@8k" in first.output and "acc@mp3" in first.output  # each run's line
    md = (env["root"] / "table.md").read_text().splitlines()
    head = md[0].split(" | ")
    assert "worst chain drop" in head and "acc@8k" in head and "acc@mp3" in head
    s = json.loads((env["root"] / "c.json").read_text())
    assert s["eval_chain"] == ["8k", "mp3"]
    v = s["variants"]["baseline"]
    run = v["runs"][0]
    assert set(run["chains"]) == {"8k", "mp3"} and set(run["chain_source"]) == {"8k", "mp3"}
    for c in ("8k", "mp3"):
        assert v["chain"][c]["accuracy"]["mean"] == pytest.approx(run["chains"][c]["accuracy"])
        assert v["chain"][c]["drop"]["mean"] == pytest.approx(run["accuracy"] - run["chains"][c]["accuracy"])
    worst = max(("8k", "mp3"), key=lambda c: run["accuracy"] - run["chains"][c]["accuracy"])
    assert v["worst_chain"]["chain"] == worst
    assert v["worst_chain"]["mean"] == pytest.approx(run["accuracy"] - run["chains"][worst]["accuracy"])
    row = md[2].split(" | ")
    assert row[head.index("worst chain drop")] == f"{v['worst_chain']['mean']:.3f} ({worst})"


def test_chain_scores_are_those_of_eval_chain(first, env, runner):
    """The same run trained by `train` and scored by `eval --chain` gives the same numbers."""
    assert first.exit_code == 0, first.output
    r = env["root"]
    res = runner.invoke(app, ["train", str(env["cache"]), "--model", "cnn1d", "--test-fold", "0", "--epochs", "8",
                              "--seed", "0", "--target-precision", "0", "--out", str(r / "model")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["eval", str(r / "model"), "--chain", "8k,mp3", "--json", str(r / "e.json")])
    assert res.exit_code == 0, res.output
    ev = json.loads((r / "e.json").read_text())["chain"]
    run = json.loads((r / "c.json").read_text())["variants"]["baseline"]["runs"][0]
    assert ev["clean"]["accuracy"] == pytest.approx(run["accuracy"])
    for c in ("8k", "mp3"):
        for k in ("accuracy", "macro_f1", "weighted_f1"):
            assert ev[c][k] == pytest.approx(run["chains"][c][k]), (c, k)


def test_bad_chain_name_fails_in_one_line_before_training(env, runner, monkeypatch):
    import animalsnd.compare.run

    def no_training(*a, **kw):
        raise AssertionError("trained")

    monkeypatch.setattr(animalsnd.compare.run, "_train_one", no_training)
    res = runner.invoke(app, ["compare", str(env["cache"]), "--variants", "baseline", "--jobs", "1",
                              "--eval-chain", "8k,cassette"])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 1 and len(lines) == 1, res.output
    assert lines[0].startswith("Error: --eval-chain cassette: unknown chain; choose from 8k, 11k, ")
    with pytest.raises(ConfigError, match="^--eval-chain 'mp3,mp3' names a chain more than once"):
        compare(env["cache"], eval_chain="mp3,mp3", **OPTS)


def test_resuming_a_store_without_chain_scores_fills_them(env):
    cache = env["cache"]
    plain = compare(cache, train_options=FAST, **{**OPTS, "variants": "enhanced-no-noise"})
    assert (plain.trained, plain.reused) == (1, 0)
    assert "chains" not in plain.runs["enhanced-no-noise"][0]
    filled = compare(cache, train_options=FAST, eval_chain=["8k"], **{**OPTS, "variants": "enhanced-no-noise"})
    assert (filled.trained, filled.reused) == (1, 0)  # models are not kept: trained and scored again
    run = filled.runs["enhanced-no-noise"][0]
    assert run["accuracy"] == plain.runs["enhanced-no-noise"][0]["accuracy"]  # the same run again
    assert set(run["chains"]) == {"8k"}
    again = compare(cache, train_options=FAST, eval_chain="8k", **{**OPTS, "variants": "enhanced-no-noise"})
    assert (again.trained, again.reused) == (0, 1)
    assert again.summary()["variants"] == filled.summary()["variants"]
    # runs without chains requested reuse the records that have them
    assert compare(cache, train_options=FAST, **{**OPTS, "variants": "enhanced-no-noise"}).reused == 1


def test_default_and_all_name_the_chains_of_eval():
    from animalsnd.chains import CHAINS, DEFAULT_CHAINS
    from animalsnd.compare.chain_scores import resolve_chains

    assert resolve_chains("default") == list(DEFAULT_CHAINS)
    assert resolve_chains("all") == list(CHAINS)
    assert resolve_chains(None) == [] and resolve_chains([]) == []
    assert resolve_chains(["8k", "mp3"]) == ["8k", "mp3"]


def test_table_with_noise_and_chains_fits_80_columns():
    s = fit_summary(eval_snr=("10", "0"))
    s["eval_chain"] = ["8k", "mp3"]
    for i, name in enumerate(VARIANTS):
        v = s["variants"][name]
        v["chain"] = {c: {"accuracy": {"mean": 0.4 + 0.01 * i, "std": 0.02},
                          "drop": {"mean": 0.1 + 0.01 * i, "std": 0.02}} for c in s["eval_chain"]}
        v["worst_chain"] = {"chain": "mp3", "mean": 0.1 + 0.01 * i, "std": 0.02}
    from animalsnd.render_compare import compare_table, to_csv, to_markdown

    console = Console(width=80, record=True, color_system=None)
    console.print(compare_table(s, width=80))
    text = console.export_text()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "drop" in text and "0.100" in text
    assert "(noisy accuracies and chain drop: mean)" in " ".join(text.split())
    md = to_markdown(s)
    assert "0.100 ± 0.020 (mp3)" in md and "| acc@8k | acc@mp3 |" in md
    assert "worst_chain_drop_mean" in to_csv(s).splitlines()[0]
