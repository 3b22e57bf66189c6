"""Tables and figures for training and evaluation metrics (the only drawing code).

Rich tables for the terminal; matplotlib (Agg) PNGs for ``eval --plots``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from animalsnd.metrics import SUMMARY_KEYS

_LABELS = {"accuracy": "accuracy", "macro_f1": "macro F1", "weighted_f1": "weighted F1"}


def per_class_table(metrics: dict, *, title: str = "Per-class scores") -> Table:
    """Precision, recall, F1 and support per class, with macro/weighted rows."""
    t = Table(title=title)
    t.add_column("class")
    for name in ("precision", "recall", "F1", "support"):
        t.add_column(name, justify="right")
    pc = metrics["per_class"]
    for label, s in pc.items():
        f1 = f"{s['f1']:.3f}"
        if s["support"] and s["f1"] < 0.5:
            f1 = f"[red]{f1}[/]"
        t.add_row(escape(label), f"{s['precision']:.3f}", f"{s['recall']:.3f}", f1, str(s["support"]))
    n = sum(s["support"] for s in pc.values())
    t.add_section()
    t.add_row("macro avg", "", "", f"{metrics['macro_f1']:.3f}", str(n))
    t.add_row("weighted avg", "", "", f"{metrics['weighted_f1']:.3f}", str(n))
    t.add_row("accuracy", "", "", f"{metrics['accuracy']:.3f}", str(n))
    return t


def confusion_fits(classes: Sequence[str], cm: Sequence[Sequence[int]], width: int | None) -> bool:
    """Whether a confusion table headed by full class names fits ``width`` columns."""
    if width is None:
        return True
    cells = max((len(str(v)) for row in cm for v in row), default=1)
    first = max(len("true \\ pred"), *(len(c) for c in classes)) + 3
    return first + sum(max(len(c), cells) + 3 for c in classes) + 1 <= width


def confusion_table(metrics: dict, *, title: str = "Confusion matrix", width: int | None = None) -> Table:
    """The confusion matrix with class names; the diagonal in green.

    When the class names would not fit ``width`` columns (the terminal's),
    the columns are numbered and each row's name carries its number, so no
    name is cut.
    """
    classes = list(metrics["per_class"])
    cm = metrics["confusion"]
    numbered = not confusion_fits(classes, cm, width)
    caption = "rows: true class, columns: predicted class" + (" (numbered as the rows)" if numbered else "")
    t = Table(title=title, caption=caption)
    t.add_column("true \\ pred", no_wrap=True)
    for i, c in enumerate(classes, 1):
        t.add_column(str(i) if numbered else escape(c), justify="right")
    for i, c in enumerate(classes):
        cells = []
        for j, v in enumerate(cm[i]):
            if i == j:
                cells.append(f"[green]{v}[/]")
            else:
                cells.append(f"[red]{v}[/]" if v else "[dim]0[/]")
        t.add_row(f"{i + 1} {escape(c)}" if numbered else escape(c), *cells)
    return t


def metrics_line(metrics: dict) -> str:
    return "  ".join(f"{_LABELS[k]} {metrics[k]:.3f}" for k in SUMMARY_KEYS) + f"  (n={metrics['n']})"


def heaviest(weights: dict[str, float], k: int = 3) -> str:
    """The ``k`` most heavily weighted classes of a folder (:mod:`animalsnd.priors`): ``dog 2.32, cat 1.71``."""
    return ", ".join(f"{c} {x:.2f}" for c, x in sorted(weights.items(), key=lambda kv: (-kv[1], kv[0]))[:k])


def folds_table(
    rows: Sequence[dict], mean: dict, std: dict, *, title: str = "Cross-validation", seconds: bool = False
) -> Table:
    """One row per fold and a mean ± std row."""
    t = Table(title=title)
    t.add_column("fold", justify="right")
    keys = list(SUMMARY_KEYS) + (["train_seconds"] if seconds else [])
    for k in keys:
        t.add_column(_LABELS.get(k, "train s"), justify="right")
    if "n" in rows[0]:
        t.add_column("n", justify="right")
    for r in rows:
        cells = [f"{r[k]:.3f}" if k in SUMMARY_KEYS else f"{r[k]:.1f}" for k in keys]
        if "n" in r:
            cells.append(str(r["n"]))
        t.add_row(str(r["fold"]), *cells)
    t.add_section()
    cells = [
        f"{mean[k]:.3f} ± {std[k]:.3f}" if k in SUMMARY_KEYS else f"{mean[k]:.1f} ± {std[k]:.1f}"
        for k in keys
    ]
    if "n" in rows[0]:
        cells.append(str(sum(r["n"] for r in rows)))
    t.add_row("mean ± std", *cells)
    return t


def mean_std_line(mean: dict, std: dict) -> str:
    return "  ".join(f"{_LABELS[k]} {mean[k]:.3f} ± {std[k]:.3f}" for k in SUMMARY_KEYS)


# ------------------------------------------------------------------ figures
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 120) -> Path:
    """Lay out, write (making the folder) and close a matplotlib figure; returns ``path``."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def plot_confusion(metrics: dict, path: str | Path, *, title: str = "Confusion matrix") -> Path:
    """Confusion matrix PNG: colour = row-normalised recall, text = counts."""
    import numpy as np

    plt = _pyplot()
    classes = list(metrics["per_class"])
    cm = np.asarray(metrics["confusion"], dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    size = max(4.0, 0.55 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if cm[i, j]:
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                        color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    return save_figure(fig, path)


def plot_per_class(metrics: dict, path: str | Path, *, title: str = "Per-class scores") -> Path:
    """Grouped bars of precision, recall and F1 per class."""
    import numpy as np

    plt = _pyplot()
    pc = metrics["per_class"]
    classes = list(pc)
    x = np.arange(len(classes))
    w = 0.27
    fig, ax = plt.subplots(figsize=(max(5.0, 0.7 * len(classes) + 2), 4))
    for k, (name, key) in enumerate([("precision", "precision"), ("recall", "recall"), ("F1", "f1")]):
        ax.bar(x + (k - 1) * w, [pc[c][key] for c in classes], w, label=name)
    ax.set_xticks(x, [f"{c}\n(n={pc[c]['support']})" for c in classes], fontsize=8)
    ax.set_ylim(0, 1.2)  # the legend sits in the band above 1, where no bar reaches
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.legend(loc="upper center", ncol=3, fontsize=8, frameon=False)
    ax.grid(axis="y", alpha=0.3)
    return save_figure(fig, path)


def chain_table(chains: dict, labels: dict[str, str], *, title: str = "Recording chains") -> Table:
    """Accuracy and macro F1 through each recording chain next to the clean score
    (``eval --chain``); ``chains`` is :meth:`animalsnd.chain_eval.ChainReport.summary`."""
    t = Table(title=title, caption="every evaluated clip re-rendered as each chain would record it")
    for name in ("chain", "accuracy", "macro F1", "Δ accuracy"):
        t.add_column(name, justify="left" if name == "chain" else "right", overflow="fold")
    clean = chains["clean"]["accuracy"]
    for name, e in chains.items():
        if name == "worst_drop":
            continue
        std = e.get("std")
        cells = [f"{e[k]:.3f} ± {std[k]:.3f}" if std else f"{e[k]:.3f}" for k in ("accuracy", "macro_f1")]
        delta = e["accuracy"] - clean
        d = "" if name == "clean" else (f"[red]{delta:+.3f}[/]" if delta < -0.03 else f"{delta:+.3f}")
        t.add_row("clean" if name == "clean" else f"{name} ({labels.get(name, name)})", *cells, d)
    return t
