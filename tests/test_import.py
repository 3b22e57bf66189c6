import subprocess
import sys


def _modules_after(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint(' '.join(sys.modules))"],
                         capture_output=True, text=True, check=True)
    return out.stdout


def test_import_does_not_load_tensorflow():
    mods = _modules_after("import animalsnd, animalsnd.cache, animalsnd.features, animalsnd.dataset, "
                          "animalsnd.descriptors, animalsnd.families.stats_mlp, animalsnd.families.vector_head, "
                          "animalsnd.families, animalsnd.train, animalsnd.evaluate, animalsnd.predict, "
                          "animalsnd.compare").split()
    assert "tensorflow" not in mods and "keras" not in mods


def test_cli_help_does_not_load_tensorflow():
    mods = _modules_after("from animalsnd.cli import app\n"
                          "from typer.testing import CliRunner\n"
                          "CliRunner().invoke(app, ['--help'])").split()
    assert "tensorflow" not in mods


def test_python_dash_m_runs():
    out = subprocess.run([sys.executable, "-m", "animalsnd", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("animalsnd ")
