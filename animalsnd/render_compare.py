"""Tables and figures of a compare run (the only drawing code for compare).

Everything here works on :meth:`animalsnd.compare.CompareResult.summary`
(plain dicts), so a table can also be redrawn from a saved ``--json`` file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from rich.table import Table

_SCORES = [("accuracy", "accuracy"), ("weighted_f1", "weighted F1"), ("macro_f1", "macro F1")]


def _pm(d: dict | None, digits: int = 3, *, std: bool | None = True) -> str:
    if not d or d.get("mean") is None:
        return "-"
    if d.get("std") is None:  # a single run has no spread
        std = False
    if std is None:  # compact: no spaces
        return f"{d['mean']:.{digits}f}±{d['std']:.{digits}f}"
    return f"{d['mean']:.{digits}f} ± {d['std']:.{digits}f}" if std else f"{d['mean']:.{digits}f}"


def _num(x, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


def _spread(v: dict, d: dict | None) -> dict | None:
    """``d`` without its std for a variant of one run (``±0.000`` says nothing)."""
    return {**d, "std": None} if d and v.get("n_runs", 0) < 2 else d


def columns(summary: dict, *, compact: bool = False) -> list[dict]:
    """Column definitions: ``id``, ``header``, ``better`` and ``value(v)``/``text(v)`` per variant.

    ``compact`` (the terminal) shows the noisy accuracies without their std.
    A variant of a single run shows no std.
    """
    cols = []
    for key, head in _SCORES:
        cols.append(dict(id=key, header=head, better="max",
                         value=lambda v, k=key: v[k]["mean"],
                         text=lambda v, k=key: _pm(_spread(v, v[k]), std=None if compact else True)))
    cols.append(dict(id="gap", header="macro − weighted", better="max",
                     value=lambda v: v["gap"]["mean"], text=lambda v: _num(v["gap"]["mean"], "+.3f")))
    for lab in summary.get("eval_snr", []):
        cols.append(dict(id=f"acc@{lab}dB", header=f"acc@{lab}dB", better="max",
                         value=lambda v, s=lab: v["snr"].get(s, {}).get("accuracy", {}).get("mean"),
                         text=lambda v, s=lab: _pm(_spread(v, v["snr"].get(s, {}).get("accuracy")),
                                                   std=not compact)))
    cols += _chain_columns(summary, compact)
    cols += [
        dict(id="params", header="params", better="min", value=lambda v: v["params"],
             text=lambda v: _num(v["params"], ",d")),
        dict(id="train_s", header="train s/fold", better="min", value=lambda v: v["train_seconds"]["mean"],
             text=lambda v: _num(v["train_seconds"]["mean"], ".1f")),
        dict(id="infer_ms", header="ms/clip", better="min", value=lambda v: v["infer_ms_per_clip"]["mean"],
             text=lambda v: _num(v["infer_ms_per_clip"]["mean"], ".2f")),
        dict(id="runs", header="runs", better=None, value=lambda v: v["n_runs"],
             text=lambda v: str(v["n_runs"]) + (f" (+{v['missing_runs']} missing)" if v.get("missing_runs") else "")),
    ]
    return cols


def _chain_columns(summary: dict, compact: bool) -> list[dict]:
    """The worst chain's accuracy drop (``--eval-chain``); without ``compact``, with that chain's name
    and each chain's accuracy after it."""
    chains = summary.get("eval_chain") or []
    if not chains:
        return []

    def worst(v: dict) -> str:
        w = v.get("worst_chain") or {}
        text = _pm(_spread(v, w), std=not compact)
        return text if compact or not w.get("chain") else f"{text} ({w['chain']})"

    cols = [dict(id="chain_drop", header="worst chain drop", better="min",
                 value=lambda v: (v.get("worst_chain") or {}).get("mean"), text=worst)]
    if not compact:
        for c in chains:
            cols.append(dict(id=f"acc@{c}", header=f"acc@{c}", better="max",
                             value=lambda v, c=c: v["chain"].get(c, {}).get("accuracy", {}).get("mean"),
                             text=lambda v, c=c: _pm(_spread(v, v["chain"].get(c, {}).get("accuracy")))))
    return cols


def best_rows(summary: dict) -> dict[str, set[str]]:
    """Per column id, the variant(s) with the best mean (ties share it)."""
    out: dict[str, set[str]] = {}
    variants = summary["variants"]
    for col in columns(summary):
        if col["better"] is None:
            continue
        vals = {n: col["value"](v) for n, v in variants.items() if v["n_runs"] and col["value"](v) is not None}
        if len(vals) < 2:
            out[col["id"]] = set()
            continue
        pick = max if col["better"] == "max" else min
        target = pick(vals.values())
        tol = 1e-12 if col["id"] in ("params", "train_s", "infer_ms") else 5e-4  # scores: display precision
        out[col["id"]] = {n for n, x in vals.items() if abs(x - target) < tol}
    return out


def rows(summary: dict, *, compact: bool = False) -> tuple[list[str], list[list[str]], list[list[bool]]]:
    """Header, text cells and a best-value mask, one row per variant."""
    cols = columns(summary, compact=compact)
    best = best_rows(summary)
    header = ["variant", *(c["header"] for c in cols)]
    body, mask = [], []
    for name, v in summary["variants"].items():
        body.append([name, *(c["text"](v) if v["n_runs"] else "-" for c in cols)])
        mask.append([False, *(name in best.get(c["id"], set()) for c in cols)])
    return header, body, mask


#: Console columns beyond variant, accuracy, macro F1, the noisy accuracies and runs, added in
#: this order while the table fits the terminal (``--out`` files always have every column).
OPTIONAL_COLUMNS = ("weighted F1", "train s/fold", "ms/clip", "params", "macro − weighted")
_SHORT = {"weighted F1": "weighted\nF1", "macro F1": "macro\nF1", "macro − weighted": "macro\n−wtd",
          "train s/fold": "train\ns/fold", "ms/clip": "ms/\nclip", "worst chain drop": "worst\nchain\ndrop"}


def _fit(header: list[str], body: list[list[str]], width: int | None) -> list[int]:
    """Indices of the columns shown: the essential ones, then optional ones while they fit ``width``."""
    def w(i: int) -> int:
        head = _SHORT.get(header[i], header[i].replace("acc@", "acc\n@"))
        return max([len(x) for x in head.split("\n")] + [len(r[i]) for r in body]) + 2  # padding (0, 1)

    keep = [i for i, h in enumerate(header) if h not in OPTIONAL_COLUMNS]
    if width is None:
        return list(range(len(header)))
    used = sum(w(i) for i in keep)
    for name in OPTIONAL_COLUMNS:
        i = header.index(name)
        if used + w(i) <= width:
            keep.append(i)
            used += w(i)
    return sorted(keep)


def compare_table(summary: dict, *, title: str | None = None, width: int | None = None) -> Table:
    """Rich table: mean ± std over folds x seeds; the best value per column in bold green.

    With ``width`` (the terminal's), only the columns that fit are shown,
    :data:`OPTIONAL_COLUMNS` first to go; the caption says which are left out.
    """
    header, body, mask = rows(summary, compact=True)
    shown = _fit(header, body, width)
    n_f, n_s = len(summary["folds"]), len(summary["seeds"])
    several = any(v["n_runs"] > 1 for v in summary["variants"].values())
    means = [what for what, on in (("noisy accuracies", summary.get("eval_snr")),
                                   ("chain drop", summary.get("eval_chain"))) if on]
    caption = ("mean±std over runs" if several else "one run per variant") + (
        f" ({' and '.join(means)}: mean)" if several and means else "") + "; best per column in bold"
    hidden = [header[i] for i in range(len(header)) if i not in shown]
    if hidden:
        caption += f"; not shown at this width: {', '.join(hidden)} (all in --out table.md)"
    t = Table(title=title or f"Variants on {n_f} test fold(s) x {n_s} seed(s)", box=None,
              padding=(0, 1), caption=caption)
    for i in shown:
        h = _SHORT.get(header[i], header[i].replace("acc@", "acc\n@"))
        t.add_column(h, justify="left" if i == 0 else "right", no_wrap=True)
    for cells, m in zip(body, mask):
        t.add_row(*(f"[bold green]{cells[i]}[/]" if m[i] else cells[i] for i in shown))
    return t


def to_markdown(summary: dict) -> str:
    header, body, mask = rows(summary)
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
    for cells, m in zip(body, mask):
        lines.append("| " + " | ".join(f"**{c}**" if b else c for c, b in zip(cells, m)) + " |")
    return "\n".join(lines) + "\n"


def to_csv(summary: dict) -> str:
    """One row per variant, mean and std in separate columns."""
    snrs = summary.get("eval_snr", [])
    head = ["variant", "model", "augment", "n_runs"]
    for k in ("accuracy", "weighted_f1", "macro_f1", "gap"):
        head += [f"{k}_mean", f"{k}_std"]
    for s in snrs:
        head += [f"acc@{s}dB_mean", f"acc@{s}dB_std", f"macro_f1@{s}dB_mean", f"macro_f1@{s}dB_std"]
    chains = summary.get("eval_chain") or []
    if chains:
        head += ["worst_chain", "worst_chain_drop_mean", "worst_chain_drop_std"]
        head += [f"acc@{c}_{m}" for c in chains for m in ("mean", "std")]
    head += ["params", "train_seconds_mean", "infer_ms_per_clip_mean", "epochs_mean"]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for name, v in summary["variants"].items():
        row = [name, v["model"], v["augment"] or "", v["n_runs"]]
        for k in ("accuracy", "weighted_f1", "macro_f1", "gap"):
            row += [v[k]["mean"], v[k]["std"]]
        for s in snrs:
            d = v["snr"].get(s, {})
            row += [d.get("accuracy", {}).get("mean"), d.get("accuracy", {}).get("std"),
                    d.get("macro_f1", {}).get("mean"), d.get("macro_f1", {}).get("std")]
        if chains:
            worst = v.get("worst_chain") or {}
            row += [worst.get("chain"), worst.get("mean"), worst.get("std")]
            for c in chains:
                a = v["chain"].get(c, {}).get("accuracy", {})
                row += [a.get("mean"), a.get("std")]
        row += [v["params"], v["train_seconds"]["mean"], v["infer_ms_per_clip"]["mean"], v["epochs"]["mean"]]
        w.writerow(["" if x is None else (round(x, 6) if isinstance(x, float) else x) for x in row])
    return buf.getvalue()


def to_json(summary: dict) -> str:
    return json.dumps(summary, indent=1) + "\n"


def render(summary: dict, path: Path) -> str:
    """The table as text for ``path``'s suffix (.md, .csv or .json)."""
    suffix = Path(path).suffix.lower()
    if suffix == ".md":
        return to_markdown(summary)
    if suffix == ".csv":
        return to_csv(summary)
    if suffix == ".json":
        return to_json(summary)
    from animalsnd.errors import ConfigError

    raise ConfigError(f"--out {path}: the file name must end in .md, .csv or .json")


# ------------------------------------------------------------------ figures
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return path


def _done(summary: dict) -> dict:
    return {n: v for n, v in summary["variants"].items() if v["n_runs"]}


def plot_accuracy(summary: dict, path: str | Path) -> Path:
    """Bar per variant: mean accuracy with ± std error bars."""
    plt = _pyplot()
    vs = _done(summary)
    names = list(vs)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2), 3.8))
    means = [vs[n]["accuracy"]["mean"] for n in names]
    ax.bar(range(len(names)), means, yerr=[vs[n]["accuracy"]["std"] for n in names], capsize=4,
           color="#4c72b0")
    for i, m in enumerate(means):
        ax.text(i, m / 2, f"{m:.2f}", ha="center", va="center", color="white", fontsize=8)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (mean ± std)")
    ax.set_title("Accuracy per variant")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(path))


def plot_f1(summary: dict, path: str | Path) -> Path:
    """Macro vs weighted F1 per variant, side by side with error bars."""
    import numpy as np

    plt = _pyplot()
    vs = _done(summary)
    names = list(vs)
    x = np.arange(len(names))
    fig, ax = plt.subplots(figsize=(max(5.0, 0.8 * len(names) + 2), 3.8))
    for off, key, lab, col in [(-0.2, "weighted_f1", "weighted F1", "#4c72b0"),
                               (0.2, "macro_f1", "macro F1", "#dd8452")]:
        ax.bar(x + off, [vs[n][key]["mean"] for n in names], 0.4, yerr=[vs[n][key]["std"] for n in names],
               capsize=3, label=lab, color=col)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("F1 (mean ± std)")
    ax.set_title("Macro vs weighted F1")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, Path(path))


def plot_per_class(summary: dict, path: str | Path) -> Path:
    """Heatmap of mean per-class F1: variants x classes."""
    import numpy as np

    plt = _pyplot()
    vs = _done(summary)
    names, classes = list(vs), summary["classes"]
    M = np.array([[vs[n]["per_class_f1"][c]["mean"] or 0.0 for c in classes] for n in names], dtype=float)
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(classes) + 3), max(3.0, 0.4 * len(names) + 1.5)))
    im = ax.imshow(M, cmap="viridis", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    for i in range(len(names)):
        for j in range(len(classes)):
            ax.text(j, i, f"{M[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if M[i, j] > 0.6 else "white")
    ax.set_title("Per-class F1 (mean over runs)")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _save(fig, Path(path))


def plot_noise(summary: dict, path: str | Path) -> Path:
    """Accuracy vs SNR per variant (clean at the right)."""
    plt = _pyplot()
    vs = _done(summary)
    snrs = summary["eval_snr"]
    order = sorted(snrs, key=float)
    xs = list(range(len(order) + 1))
    fig, ax = plt.subplots(figsize=(6, 4))
    for n, v in vs.items():
        ys = [v["snr"][s]["accuracy"]["mean"] for s in order] + [v["accuracy"]["mean"]]
        ax.plot(xs, ys, marker="o", label=n)
    ax.set_xticks(xs, [f"{s} dB" for s in order] + ["clean"])
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy (mean over runs)")
    ax.set_title("Accuracy with evaluation noise")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, Path(path))


def write_figures(summary: dict, out_dir: str | Path) -> list[Path]:
    """All compare figures into ``out_dir`` (compare_*.png); nothing without finished runs."""
    out_dir = Path(out_dir)
    if not _done(summary):
        return []
    paths = [plot_accuracy(summary, out_dir / "compare_accuracy.png"),
             plot_f1(summary, out_dir / "compare_f1.png"),
             plot_per_class(summary, out_dir / "compare_per_class_f1.png")]
    if summary.get("eval_snr") and all(
            v["snr"][s]["accuracy"]["mean"] is not None for v in _done(summary).values() for s in summary["eval_snr"]):
        paths.append(plot_noise(summary, out_dir / "compare_noise.png"))
    return paths


# ------------------------------------------------------------------ eval --noise
def snr_table(snr: dict, *, title: str = "Noise robustness") -> Table:
    """Accuracy and macro F1 per SNR next to the clean score (``eval --noise``).

    ``snr`` is :meth:`animalsnd.evaluate.NoiseReport.summary`; CV entries
    (with ``std``) show mean ± std over the fold models.
    """
    t = Table(title=title, caption="noise mixed at each SNR against the active level of every clip")
    for name in ("SNR", "accuracy", "macro F1", "Δ accuracy"):
        t.add_column(name, justify="left" if name == "SNR" else "right")
    clean = snr["clean"]["accuracy"]
    for label, e in snr.items():
        std = e.get("std")
        cells = [f"{e[k]:.3f} ± {std[k]:.3f}" if std else f"{e[k]:.3f}" for k in ("accuracy", "macro_f1")]
        delta = e["accuracy"] - clean
        d = "" if label == "clean" else (f"[red]{delta:+.3f}[/]" if delta < 0 else f"{delta:+.3f}")
        t.add_row("clean" if label == "clean" else f"{label} dB", *cells, d)
    return t


def plot_snr(snr: dict, path: str | Path, *, title: str = "Accuracy and macro F1 vs SNR") -> Path:
    """Accuracy and macro F1 against SNR (clean at the right), ± std for CV."""
    plt = _pyplot()
    labels = sorted((k for k in snr if k != "clean"), key=float)
    order = [*labels, "clean"]
    xs = list(range(len(order)))
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for key, name in (("accuracy", "accuracy"), ("macro_f1", "macro F1")):
        ys = [snr[k][key] for k in order]
        err = [snr[k]["std"][key] for k in order] if "std" in snr["clean"] else None
        ax.errorbar(xs, ys, yerr=err, marker="o", capsize=3, label=name)
    ax.set_xticks(xs, [f"{k} dB" for k in labels] + ["clean"])
    ax.set_ylim(0, 1)
    ax.set_xlabel("signal-to-noise ratio")
    ax.set_ylabel("score")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    return _save(fig, Path(path))
