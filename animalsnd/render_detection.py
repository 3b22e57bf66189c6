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
    """How the scored rows were chosen: calibrated thresholds, one confidence, or every window."""
    if output.get("calibrated"):
        return (f"output: calibrated (temperature {output['temperature']:.3g}, a threshold per class; "
                "--no-calibration to score without)")
    if output.get("min_confidence"):
        return f"output: uncalibrated, windows with confidence >= {output['min_confidence']:g}"
    return "output: uncalibrated, every window's best class but background"


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
