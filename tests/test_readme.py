"""The README is the contract: its quickstart and every command stay true."""

import re
from pathlib import Path

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
