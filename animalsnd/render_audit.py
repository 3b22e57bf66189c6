"""Tables, lines and the figure of the data audit (:mod:`animalsnd.audit_report`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from animalsnd.audit_report import Audit


def _rate(sr) -> str:
    return "unknown" if sr is None else f"{sr / 1000:g}k"


def _top(summary: dict, n_clips: int, fmt=str, k: int = 2) -> str:
    return ", ".join(f"{fmt(v) if v != 'unknown' else v} {100 * n / n_clips:.0f}%"
                     for v, n in summary["most_common"][:k])


def _median(summary: dict, fmt: str = "{:.1f}") -> str:
    if "median" not in summary:
        return "—"
    return fmt.format(float(fmt.format(summary["median"])) + 0.0)  # + 0.0: never "-0.0"


def _encoding(clip: dict) -> str:
    return clip["encoding"] + (str(clip["bit_depth"]) if clip["bit_depth"] is not None else "")


def properties_table(audit: Audit) -> Table:
    """Per class: the most common chain values, medians of the measured ones, and the shortcut's recall."""
    t = Table(title="Recording properties per class (most common value and its share; medians)")
    cols = ["class", "clips", "rate", "bandwidth kHz", "ch", "encoding", "dur s", "rms/peak dB", "silence s"]
    recall = audit.shortcut.per_class_recall if audit.shortcut else {}
    if recall:
        cols.append("recall")
    for name in cols:
        t.add_column(name, justify="left" if name in ("class", "rate", "encoding") else "right")
    for label, s in audit.per_class.items():
        n, bw = s["n"], s["bandwidth_hz"]
        enc = Counter(_encoding(c) for c in audit.clips if c["label"] == label).most_common(1)[0]
        row = [escape(label), str(n), _top(s["sample_rate"], n, _rate, k=1),
               f"{bw['median'] / 1000:.1f} ({bw['p10'] / 1000:.1f}–{bw['p90'] / 1000:.1f})",
               _top(s["channels"], n, k=1), f"{enc[0]} {100 * enc[1] / n:.0f}%", _median(s["duration_s"]),
               f"{_median(s['rms_dbfs'])}/{_median(s['peak_dbfs'])}",
               f"{_median(s['lead_silence_s'], '{:.2f}')}/{_median(s['trail_silence_s'], '{:.2f}')}"]
        if recall:
            flagged = label in audit.shortcut.classes
            row.append(f"[bold red]{recall[label]:.2f}[/]" if flagged else f"{recall[label]:.2f}")
        t.add_row(*row)
    t.caption = ("bandwidth: effective (measured), median (p10–p90); encoding with bit depth; silence: "
                 "leading/trailing; recall: of the shortcut classifier, bold when it names the class")
    return t


def shortcut_table(audit: Audit) -> Table:
    """Each property's own cross-validated score, and all of them together."""
    s = audit.shortcut
    t = Table(title=f"Shortcut score: what the recording properties alone predict "
                    f"(chance {s.chance:.2f}, well above from {s.threshold:.2f})")
    for name, justify in [("properties", "left"), ("balanced acc", "right"), ("accuracy", "right"), ("", "left")]:
        t.add_column(name, justify=justify)
    order = sorted(s.per_property, key=lambda p: -(s.per_property[p]["balanced_accuracy"] or 0))
    for p in order:
        v = s.per_property[p]
        if v["balanced_accuracy"] is None:
            t.add_row(p, "—", "—", "one value for every clip")
            continue
        named = p in s.properties
        t.add_row(f"[bold red]{p}[/]" if named else p, f"{v['balanced_accuracy']:.3f}", f"{v['accuracy']:.3f}",
                  "gives the class away" if named else "")
    t.add_section()
    t.add_row("[bold]all together[/]", f"[bold]{s.balanced_accuracy:.3f}[/]", f"{s.accuracy:.3f}",
              f"majority-class rate {s.majority_rate:.3f}")
    return t


def summary_lines(audit: Audit) -> list[str]:
    """Plain lines: what was measured, the sample rates, the shortcut verdict."""
    rates = audit.sample_rates
    lines = [f"{audit.n_clips} clips of {len(audit.classes)} classes measured "
             f"({audit.measured} now, {audit.reused} from the audit store"
             f"{'' if audit.kept else '; not kept: the store is not writable, see --store'})"]
    if len(rates) == 1:
        lines.append(f"one sample rate ({rates[0]} Hz): the sample rate cannot give any class away")
    else:
        lines.append(f"{len(rates)} sample rates: {', '.join(_rate(r) for r in rates)}")
    s = audit.shortcut
    if s is None:
        lines.append("no shortcut score: it needs at least two classes and two folds")
    else:
        verdict = "WELL ABOVE chance" if s.flagged else "not well above chance"
        lines.append(f"shortcut score: balanced accuracy {s.balanced_accuracy:.3f} (accuracy {s.accuracy:.3f}) "
                     f"against chance {s.chance:.3f} and majority-class rate {s.majority_rate:.3f}: {verdict}")
    return lines


def plot_bandwidths(audit: Audit, path: str | Path) -> Path:
    """One panel per class: histogram of effective bandwidth, stacked by the file's sample rate."""
    import numpy as np

    from animalsnd.render_eval import _pyplot

    plt = _pyplot()
    by_rate: dict[int, int] = {}
    for c in audit.clips:
        by_rate[c["sample_rate"]] = by_rate.get(c["sample_rate"], 0) + 1
    shown = sorted(sorted(by_rate, key=lambda r: -by_rate[r])[:5])
    groups = [_rate(r) for r in shown] + (["other"] if len(by_rate) > len(shown) else [])
    top = max(c["bandwidth_hz"] for c in audit.clips) / 1000
    bins = np.linspace(0, max(top, 1.0) * 1.02, 41)
    n = len(audit.classes)
    cols = min(n, 5)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.0 * cols, 2.4 * rows + 0.6), sharex=True, squeeze=False)
    for ax, label in zip(axes.flat, audit.classes):
        mine = [c for c in audit.clips if c["label"] == label]
        data = [[c["bandwidth_hz"] / 1000 for c in mine if (_rate(c["sample_rate"]) if c["sample_rate"] in shown
                                                            else "other") == g] for g in groups]
        ax.hist(data, bins=bins, stacked=True, label=groups)
        ax.set_title(f"{label} ({len(mine)})", fontsize=10)
        ax.tick_params(labelsize=8)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel("effective bandwidth (kHz)", fontsize=8)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(groups), fontsize=8,
               title="sample rate of the file (Hz)", title_fontsize=8)
    fig.tight_layout(rect=(0, 0, 1, 0.9 if rows > 1 else 0.8))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
