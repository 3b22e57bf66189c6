"""Console tables fit an 80-column terminal without cutting a cell; --out files keep everything."""

from rich.console import Console

from animalsnd.render_compare import compare_table, to_markdown
from animalsnd.render_eval import confusion_table

VARIANTS = ["baseline", "simple-noise", "enhanced", "enhanced-no-class-weights", "stats-mlp"]


def _stat(mean, std=0.0):
    return {"mean": mean, "std": std}


def summary(n_runs=5, eval_snr=()):
    variants = {}
    for i, name in enumerate(VARIANTS):
        acc = 0.5 + 0.07 * i
        variants[name] = {
            "model": name, "augment": None, "n_runs": n_runs,
            "accuracy": _stat(acc, 0.0 if n_runs == 1 else 0.123),
            "weighted_f1": _stat(acc - 0.01, 0.0 if n_runs == 1 else 0.1),
            "macro_f1": _stat(acc - 0.05, 0.0 if n_runs == 1 else 0.1), "gap": _stat(-0.04),
            "snr": {s: {"accuracy": _stat(acc - 0.1, 0.05)} for s in eval_snr},
            "params": 1_027_301, "train_seconds": _stat(12.5), "infer_ms_per_clip": _stat(3.2),
            "epochs": _stat(15),
        }
    return {"variants": variants, "folds": list(range(n_runs)), "seeds": [0], "eval_snr": list(eval_snr),
            "classes": ["a", "b"]}


def _render(table, width=80) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def test_compare_table_fits_80_columns_and_says_what_it_left_out():
    s = summary(eval_snr=("10", "0"))
    text = _render(compare_table(s, width=80))
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "…" not in text and "enhanced-no-class-weights" in text and "0.780±0.123" in text
    flat = " ".join(text.split())
    assert "not shown at this width: weighted F1" in flat and "(noisy accuracies: mean)" in flat
    wide = _render(compare_table(s, width=200), width=200)
    assert "not shown" not in wide and "1,027,301" in wide
    md = to_markdown(s)
    assert "params" in md and "weighted F1" in md and "macro − weighted" in md


def test_single_runs_show_no_spread_and_no_noise_note():
    s = summary(n_runs=1)
    text = _render(compare_table(s, width=80))
    assert "±" not in text and "noisy" not in text and "one run per variant" in text
    assert "±" not in to_markdown(s)
    assert "noisy" not in _render(compare_table(summary(), width=80))  # no noise evaluated


def test_confusion_matrix_numbers_columns_when_names_do_not_fit():
    classes = ["bird", "cat", "chicken", "cow", "dog", "donkey", "frog", "lion", "monkey", "sheep"]
    m = {"per_class": {c: {} for c in classes}, "confusion": [[40 if i == j else 1 for j in range(10)] for i in range(10)]}
    text = _render(confusion_table(m, width=80))
    assert max(len(line) for line in text.splitlines()) <= 80 and "…" not in text
    assert "10 sheep" in text and "3 chicken" in text and "numbered as the rows" in text
    wide = _render(confusion_table(m, width=200), width=200)
    assert "chicken" in wide.splitlines()[2] and "numbered" not in wide
    small = {"per_class": {c: {} for c in classes[:3]}, "confusion": [[1, 0, 0], [0, 1, 0], [0, 0, 1]]}
    assert "numbered" not in _render(confusion_table(small, width=80))


def test_per_class_legend_covers_no_bar(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import animalsnd.render_eval as R

    figs = []
    monkeypatch.setattr(plt, "close", lambda fig=None: figs.append(fig))
    classes = ["bird", "cat", "chicken", "cow", "dog"]
    m = {"per_class": {c: {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3} for c in classes}}
    R.plot_per_class(m, tmp_path / "pc.png")
    (fig,) = figs
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    bars = [p.get_window_extent() for p in ax.patches]
    assert bars and not any(legend.overlaps(b) for b in bars)
