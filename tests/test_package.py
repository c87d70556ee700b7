"""One `pip install` for people who use the model outside this repo: build the wheel, install it into a fresh
virtual environment and use it from a directory that is not the repo (pyproject.toml).

The venv reuses the heavy dependencies of the Python running the tests (a `.pth` file lists its site-packages after
the venv's own, and the wheel goes in with `--no-deps`), so the test stays offline and takes seconds; what it proves
is that the wheel itself carries the code and the model. Not `--system-site-packages`: inside a virtualenv that
would show the base interpreter's packages, not the virtualenv's.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

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
# `python -m train --help` and `python -m train.evaluate --help`, here: each process would import TensorFlow again.
import contextlib, io, runpy
helps = {}
for module in ("train", "train.evaluate"):
    sys.argv, text = [module, "--help"], io.StringIO()
    try:
        with contextlib.redirect_stdout(text):
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        code = None
    except SystemExit as e:
        code = e.code
    helps[module] = [code, text.getvalue()]
print(json.dumps({"module": predictor.__file__, "model": p.source, "shape": list(future.shape),
                  "in_range": bool(future.min() >= 0 and future.max() <= 1), "keras": type(m).__name__,
                  "hub": hub, "helps": helps}))
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
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    # This interpreter's pip installs into the venv (`--python`): the same install, without seeding pip into it.
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", "--no-index",
                    str(wheel)], check=True, timeout=300)
    own = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], check=True,
                         capture_output=True, text=True).stdout.strip()
    # After the wheel is in: the packages this interpreter sees (its venv's, its base's if that venv was made with
    # them, the user site), listed after the venv's own, so `predictor` still comes from the wheel.
    ours = [p for p in sys.path if os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]
    (Path(own) / "_outer_site_packages.pth").write_text("\n".join(ours) + "\n")
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
    for module in ("train", "train.evaluate"):  # `python -m MODULE --help`, run in the same process
        code, text = got["helps"][module]
        assert code in (0, None) and "usage: python -m " + module in text, (module, code, text[-2000:])


def _requirements(name: str) -> list[str]:
    """The requirement lines of `name` (comments and `-r` includes left out), normalised for comparison."""
    import re

    with open(os.path.join(ROOT, name)) as f:
        lines = [ln.split("#")[0].strip() for ln in f]
    return [re.sub(r"\s+", "", ln).lower().replace("_", "-") for ln in lines if ln and not ln.startswith("-r")]


def test_requirements_files_and_pyproject_agree():
    """A Space installs requirements.txt, CI requirements-dev.txt (which includes it), pip pyproject.toml: together
    the same packages with the same ranges, each named once."""
    import re
    import tomllib

    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    declared = project["dependencies"] + [d for extra in project["optional-dependencies"].values() for d in extra]
    with open(os.path.join(ROOT, "requirements-dev.txt")) as f:  # the app's list first, then the rest
        assert [ln.strip() for ln in f if ln.strip() and not ln.startswith("#")][0] == "-r requirements.txt"
    required = _requirements("requirements.txt") + _requirements("requirements-dev.txt")
    assert sorted(re.sub(r"\s+", "", d).lower().replace("_", "-") for d in declared) == sorted(required)
    assert len(set(required)) == len(required)


def test_requirements_txt_holds_what_the_space_imports():
    """Every package that the uploaded app imports (lazily too) is named in requirements.txt, and nothing there is
    imported by none of it: test and training packages stay in requirements-dev.txt."""
    import ast
    import importlib.metadata
    import re

    from demo import deploy

    imported = set()
    for path, _ in deploy.space_files(ROOT):
        if path.endswith(".py"):
            with open(os.path.join(ROOT, path)) as f:
                for node in ast.walk(ast.parse(f.read())):
                    if isinstance(node, ast.Import):
                        imported |= {a.name.split(".")[0] for a in node.names}
                    elif isinstance(node, ast.ImportFrom) and node.level == 0:
                        imported.add(node.module.split(".")[0])
    local = {p.split("/")[0].removesuffix(".py") for p, _ in deploy.space_files(ROOT)}
    third_party = imported - set(sys.stdlib_module_names) - local - {"__future__"}
    dists = importlib.metadata.packages_distributions()
    norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()  # noqa: E731
    named = {norm(re.split(r"[<>=!~; \[]", r)[0]) for r in _requirements("requirements.txt")}
    providers = {m: {norm(d) for d in dists.get(m, [m])} for m in third_party}
    assert not [m for m, ds in providers.items() if not ds & named], "imported, not in requirements.txt"
    assert not [r for r in named if not any(r in ds for ds in providers.values())], "in requirements.txt, unused"
