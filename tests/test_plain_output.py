"""Output for logs and other tools: plain progress lines off a terminal, Raven's Species column."""

import io

from rich.console import Console

from animalsnd.cli import app
from animalsnd.cli.plain import PlainProgress, make_progress
from animalsnd.export import raven_table
from animalsnd.predict import Detection
from conftest_train import make_data


def _console(terminal: bool):
    buf = io.StringIO()
    return Console(file=buf, width=40, force_terminal=terminal, color_system=None), buf


def test_plain_progress_prints_whole_lines_each_tenth_and_at_the_end():
    console, buf = _console(False)
    prog = make_progress(console=console, unit="files")
    assert isinstance(prog, PlainProgress)
    task = prog.add_task("Extracting features", total=200)
    for i in range(1, 201):
        prog.update(task, completed=i)
    prog.stop()
    lines = buf.getvalue().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("Extracting features: 200/200 files in 0:00:0")
    assert lines[0].startswith("Extracting features: 20/200 files")
    assert all("…" not in ln for ln in lines)  # whole lines, whatever the width


def test_plain_progress_fields_and_an_unfinished_task():
    console, buf = _console(False)
    prog = PlainProgress(console=console)
    task = prog.add_task("fold 0", total=60, stats="", unit="epochs")
    prog.update(task, completed=3, stats="loss 0.912 acc [0.5]")
    prog.stop()  # stopped early (early stopping): the last state is printed once
    prog.stop()
    assert buf.getvalue().splitlines() == ["fold 0: 3/60 epochs in 0:00:00  loss 0.912 acc [0.5]"]


def test_a_terminal_gets_the_rich_bar():
    from rich.progress import Progress

    console, _ = _console(True)
    assert isinstance(make_progress(console=console), Progress)


def test_cli_progress_in_a_log_is_plain(runner, tmp_path):
    data = make_data(tmp_path / "data", n=3)
    res = runner.invoke(app, ["prepare", str(data), "--cache", str(tmp_path / "c"), "--folds", "2",
                              "--jobs", "1", "--min-per-class", "2"])
    assert res.exit_code == 0, res.output
    progress = [ln for ln in res.output.splitlines() if ln.startswith(("Extracting", "Measuring"))]
    assert progress and all(": " in ln and " files in 0:0" in ln and "━" not in ln for ln in progress)
    assert any(ln.startswith("Extracting features: 9/9 files") for ln in progress)


def test_raven_table_has_species_and_label():
    text = raven_table([Detection("f.wav", 1.0, 2.5, "dog", 0.91)], low_hz=0, high_hz=8000)
    head, row = [ln.split("\t") for ln in text.splitlines()]
    assert head[-3:] == ["Species", "label", "confidence"]
    assert dict(zip(head, row))["Species"] == dict(zip(head, row))["label"] == "dog"
