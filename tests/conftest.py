import os
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("COLUMNS", "120")
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
sys.path.insert(0, str(Path(__file__).parent))

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REAL_DATA = Path(os.environ.get("ANIMALSND_REAL_DATA", SHARED / "animal-sounds-10"))
NOISE_DIR = Path(os.environ.get("ANIMALSND_NOISE_DIR", SHARED / "noise"))


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="session")
def real_data() -> Path:
    if not (REAL_DATA.is_dir() and any(REAL_DATA.iterdir())):
        pytest.skip(f"real dataset not present at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def noise_dir() -> Path:
    if not NOISE_DIR.is_dir():
        pytest.skip(f"noise recordings not present at {NOISE_DIR}")
    return NOISE_DIR
