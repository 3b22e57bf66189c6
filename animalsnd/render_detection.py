"""Tables and figures of detection scored against annotations (``eval --annotations``)."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.table import Table


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def detection_table(summary: dict, *, title: str = "Detection against annotations") -> Table:
    """Per class: events, positive windows, window AP, rows, precision, recall, F1; then all classes."""
    t = Table(title=title)
    t.add_column("class")
    for name in ("events", "pos. windows", "window AP", "rows", "precision", "recall", "F1"):
        t.add_column(name, justify="right")
    for c, s in summary["per_class"].items():
        t.add_row(escape(c), str(s["events"]), str(s.get("positive_windows", 0)), _f(s.get("ap")),
                  str(s["rows"]), _f(s["precision"]), _f(s["recall"]), _f(s["f1"]))
    o = summary["overall"]
    t.add_section()
    t.add_row("all (micro)", str(o["events"]), "", f"mAP {_f(summary['map'])}", str(o["rows"]),
              _f(o["precision"]), _f(o["recall"]), _f(o["f1"]))
    return t


def detection_line(summary: dict) -> str:
    """One line: mAP, P/R/F1 of the output, and the recordings without events that got a row."""
    o = summary["overall"]
    line = (f"window mAP {_f(summary['map'])}; output precision {_f(o['precision'])}, recall {_f(o['recall'])}, "
            f"F1 {_f(o['f1'])} ({summary['rule']})")
    if summary.get("empty_recordings"):
        line += (f"; {summary['empty_flagged']:.0%} of {summary['empty_recordings']} recording(s) "
                 "without events got an animal label")
    return line


def output_line(output: dict) -> str:
    """How the scored rows were chosen: calibrated thresholds, one confidence, or every window
    (and, for birdnet-head's screen, how many windows got the double-speed view)."""
    sc = output.get("screen")
    tail = (f"; double-speed view on {sc['second_view']} of {sc['segments']} segments (--no-screen: all)"
            if sc else "")
    if output.get("context_held") is not None:
        tail += f"; {output['context_held']} window(s) held back by the context check (--no-context: none)"
    if output.get("adapted"):
        tail += (f"; animals weighted by their share of each recording's windows in {output['adapted']} "
                 "recording(s) (--no-adapt: none)")
    if output.get("calibrated"):
        return (f"output: calibrated (temperature {output['temperature']:.3g}, a threshold per class; "
                f"--no-calibration to score without){tail}")
    if output.get("min_confidence"):
        return f"output: uncalibrated, windows with confidence >= {output['min_confidence']:g}{tail}"
    return f"output: uncalibrated, every window's best class but background{tail}"


def plot_pr_curves(curves: dict, folder: str | Path, *, aps: dict | None = None) -> list[Path]:
    """One precision-recall PNG per class, ``pr_<class>.png`` in ``folder``."""
    from animalsnd.render_eval import _pyplot

    plt = _pyplot()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c, (prec, rec) in curves.items():
        fig, ax = plt.subplots(figsize=(4.5, 4))
        ax.step(rec, prec, where="post")
        ax.set_xlim(0, 1.02)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel("recall (windows)")
        ax.set_ylabel("precision (windows)")
        ap = (aps or {}).get(c)
        ax.set_title(f"{c}" + (f": AP {ap:.3f}" if ap is not None else ""))
        ax.grid(alpha=0.3)
        fig.tight_layout()
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in c)
        path = folder / f"pr_{safe}.png"
        fig.savefig(path, dpi=110)
        plt.close(fig)
        out.append(path)
    return out


def plot_calibration(models: dict, path: str | Path) -> Path:
    """Two panels: reliability of the out-of-fold confidences before and after temperature
    scaling, and the precision and recall that each ``--target-precision`` gives on folds
    its thresholds were not fitted on.

    ``models``: ``{name: {"raw": reliability, "scaled": reliability, "targets": [{"target",
    "precision", "recall"}, ...]}}`` (:func:`animalsnd.calibration.reliability`).
    """
    import numpy as np

    from animalsnd.render_eval import _pyplot, save_figure

    plt = _pyplot()
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(10, 4.4))
    ax.plot([0, 1], [0, 1], color="grey", lw=0.8, ls=":")
    bx.plot([0.5, 1], [0.5, 1], color="grey", lw=0.8, ls=":")
    for i, (name, m) in enumerate(models.items()):
        colour = f"C{i}"
        for key, style in (("raw", "--"), ("scaled", "-")):
            r = m[key]
            ok = np.asarray(r["count"]) > 0
            label = f"{name}, {'raw' if key == 'raw' else 'temperature-scaled'} (ECE {r['ece']:.3f})"
            ax.plot(np.asarray(r["confidence"])[ok], np.asarray(r["accuracy"])[ok], style, marker="o", ms=3,
                    color=colour, label=label)
        t = [row["target"] for row in m["targets"]]
        bx.plot(t, [row["precision"] for row in m["targets"]], "-", marker="o", ms=3, color=colour,
                label=f"{name}: precision")
        bx.plot(t, [row["recall"] for row in m["targets"]], "--", marker="s", ms=3, color=colour,
                label=f"{name}: recall")
    ax.set(xlim=(0, 1.02), ylim=(0, 1.02), xlabel="confidence of the top class",
           ylabel="share right", title="Reliability (out-of-fold clips)")
    bx.set(xlim=(0.48, 1.0), ylim=(0, 1.02), xlabel="--target-precision",
           ylabel="on held-out folds", title="What a target gives (animal labels)")
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=7, loc="lower right")
    return save_figure(fig, path, dpi=110)
