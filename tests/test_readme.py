"""The README is the contract: its quickstart and every command stay true."""

import re
from pathlib import Path

import pytest

from animalsnd.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def quickstart() -> list[str]:
    block = README.split("<!-- quickstart:start -->")[1].split("<!-- quickstart:end -->")[0]
    lines = [re.sub(r"\s+#.*$", "", ln).strip() for ln in block.splitlines()]
    return [ln for ln in lines if ln and not ln.startswith("```")]


def test_quickstart_is_install_demo_test():
    cmds = quickstart()
    assert len(cmds) == 3
    assert cmds[0].startswith("pip install -e")
    assert cmds[1] == "animalsnd demo"
    assert "pytest" in cmds[2]


def test_quickstart_comes_first():
    assert README.index("<!-- quickstart:start -->") < README.index("## ")


def test_ci_runs_the_readme_quickstart():
    ci = (ROOT / ".ci" / "run").read_text()
    assert "quickstart:start" in ci and "python3 -m venv" in ci


def test_every_command_is_documented(runner):
    res = runner.invoke(app, ["--help"])
    names = re.findall(r"│ (\w+)\s{2,}", res.output)
    assert {"prepare", "augment", "train", "eval", "predict", "compare", "demo"} <= set(names)
    for name in names:
        assert f"animalsnd {name}" in README, f"`animalsnd {name}` is missing from README.md"


def test_sample_audio_described_as_synthetic():
    assert "synthetic" in README and "python -m animalsnd.synth sample_audio" in README


# ------------------------------------------------------------------ the README's commands, in order
#: Data the README's examples read, replaced by tiny generated stand-ins.
SHARED_DATA = {"../shared/data/animal-sounds-10": "data", "../shared/data/noise/wind": "noise/wind",
               "../shared/data/noise/rain": "noise/rain"}


def readme_commands() -> list[str]:
    """Every `animalsnd` command of the README, in the order written.

    The quickstart's lines, then every ``$ animalsnd ...`` line of the
    example blocks (their output lines are not commands).
    """
    cmds, in_quickstart = [], False
    for line in README.splitlines():
        if "<!-- quickstart:" in line:
            in_quickstart = "quickstart:start" in line
        text = re.sub(r"\s+#.*$", "", line).strip()
        if in_quickstart and text.startswith("animalsnd "):
            cmds.append(text)
        elif text.startswith("$ animalsnd "):
            cmds.append(text[2:])
    return cmds


def _stand_ins(root: Path) -> None:
    """A small dataset (3 classes x 5 clips) and two noise folders under ``root``."""
    import numpy as np
    import soundfile as sf

    from animalsnd.synth import generate

    generate(root / "data", seed=3, classes={"frog": 5, "cricket": 5, "dog": 5})
    rng = np.random.default_rng(0)
    for name in ("wind", "rain"):
        (root / "noise" / name).mkdir(parents=True)
        for i in range(2):
            sf.write(root / "noise" / name / f"{name}_{i}.wav",
                     (0.05 * rng.standard_normal(16000 * 3)).astype(np.float32), 16000)


def test_readme_commands_cover_the_pipeline():
    cmds = readme_commands()
    assert cmds[0] == "animalsnd demo"
    for name in ("prepare", "augment", "train", "eval", "predict", "compare"):
        assert any(c.startswith(f"animalsnd {name} ") for c in cmds), name


@pytest.mark.slow
def test_readme_commands_run_in_order(runner, tmp_path, monkeypatch):
    """Each README command, as written, from an empty folder, after the ones above it.

    Only the shared data is replaced (:data:`SHARED_DATA`) and every model
    trains one epoch; ``compare`` (20 training runs) is left to
    tests/test_cli_compare.py. About 2 minutes on two shared cores.
    """
    import shlex

    from animalsnd.train import TrainConfig

    from joblib.externals.loky import get_reusable_executor

    _stand_ins(tmp_path)
    get_reusable_executor().shutdown(wait=True)  # workers of earlier tests keep their cwd
    monkeypatch.chdir(tmp_path)
    for_model = TrainConfig.for_model.__func__
    monkeypatch.setattr(TrainConfig, "for_model",
                        classmethod(lambda cls, model, **kw: for_model(cls, model, **{**kw, "epochs": 1})))
    for cmd in readme_commands():
        if cmd.startswith("animalsnd compare "):
            continue
        for path, stand_in in SHARED_DATA.items():
            cmd = cmd.replace(path, stand_in)
        res = runner.invoke(app, shlex.split(cmd)[1:])
        assert res.exit_code == 0, f"{cmd}\n{res.output}"
        assert "Error" not in res.output, cmd
    assert (tmp_path / "demo" / "raven" / "field_recording.Table.1.selections.txt").is_file()
