"""One `pip install` for people who use the model outside this repo: build the wheel, install it into a fresh
virtual environment and use it from a directory that is not the repo (pyproject.toml).

The venv reuses the heavy dependencies already installed here (`--system-site-packages`, `--no-deps`), so the
test stays offline and takes seconds; what it proves is that the wheel itself carries the code and the model.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

USE = r"""
import json, os, sys
import numpy as np
import predictor
from predictor import load_predictor
from predictor.moving_mnist import generate
here = os.path.dirname(predictor.__file__)
p = load_predictor()
seq = generate(1, seq_len=14, rng=0, split="val")[0]
future = p.predict(seq[:10], horizon=4)
import keras
m = keras.saving.load_model(os.path.join(here, "assets", "default.keras"), safe_mode=True)
try:
    load_predictor("hf://nobody-here/no-such-model")
    hub = "loaded?"
except ValueError as e:
    hub = str(e)
print(json.dumps({"module": predictor.__file__, "model": p.source, "shape": list(future.shape),
                  "in_range": bool(future.min() >= 0 and future.max() <= 1), "keras": type(m).__name__,
                  "hub": hub}))
"""


@pytest.mark.slow
def test_wheel_installs_and_predicts_outside_the_repo(tmp_path):
    src = tmp_path / "src"  # build from a copy: the build writes build/ and egg-info beside its sources
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "predictor", "train", "assets"):
        if os.path.isdir(os.path.join(ROOT, name)):
            shutil.copytree(os.path.join(ROOT, name), src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copyfile(os.path.join(ROOT, name), src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(tmp_path / "dist"), str(src)], check=True, timeout=300)
    wheel = next((tmp_path / "dist").glob("convlstm_next_frame-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"), "PYTHONPATH": ""}
    run = lambda *args: subprocess.run([python, *args], cwd=elsewhere, env=env, capture_output=True, text=True,  # noqa: E731
                                       timeout=300)
    out = run("-c", USE)
    assert out.returncode == 0, out.stderr[-3000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["module"].startswith(str(venv)) and "site-packages" in got["module"]  # not the repo's copy
    assert got["model"].startswith(str(venv)) and got["model"].endswith("predictor/assets/default.keras")
    assert got["shape"] == [4, 64, 64] and got["in_range"] and got["keras"] == "StreamingConvLSTM"
    assert "not in the local cache" in got["hub"]  # the Hub path is there and fails clearly offline
    for module in ("train", "train.evaluate"):
        helped = run("-m", module, "--help")
        assert helped.returncode == 0 and "usage: python -m " + module in helped.stdout, helped.stderr[-2000:]


def test_requirements_txt_and_pyproject_agree():
    """Spaces and CI install requirements.txt; pip installs pyproject.toml: the same packages, the same ranges."""
    import re
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    with open(os.path.join(ROOT, "requirements.txt")) as f:
        required = [ln.split("#")[0].strip() for ln in f if ln.split("#")[0].strip()]
    norm = lambda spec: re.sub(r"\s+", "", spec).lower().replace("_", "-")  # noqa: E731
    assert sorted(map(norm, declared)) == sorted(map(norm, required))
