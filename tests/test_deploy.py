"""`python -m demo.deploy`: what it would upload, and every Hub call it makes, against a stand-in `HfApi` that
records the calls (offline; nothing reaches the Hub)."""

import os

import pytest
from huggingface_hub import CommitOperationAdd, CommitOperationDelete

from demo import deploy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class RecordingHfApi:
    """Stands in for `huggingface_hub.HfApi`: records `(method, args, kwargs)` of every call; the Space already
    holds `remote` (what `list_repo_files` answers)."""

    def __init__(self, remote=()):
        self.calls, self.remote = [], list(remote)

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls.append((name, args, kwargs))
            return list(self.remote) if name == "list_repo_files" else None
        return call

    def names(self):
        return [name for name, _, _ in self.calls]


def write(path, text="x = 1\n"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text)


@pytest.fixture
def tree(tmp_path):
    """A small repo laid out as this one: what the Space runs, and what it must never get."""
    write(tmp_path / "app.py", "import gradio\nfrom demo import run\nimport predictor\n")
    write(tmp_path / "README.md", "---\nsdk: gradio\napp_file: app.py\n---\n# hi\n")
    write(tmp_path / "requirements.txt", "gradio\n")
    write(tmp_path / "demo" / "__init__.py", "")
    write(tmp_path / "demo" / "run.py", "def go():\n    from predictor import media\n")
    write(tmp_path / "demo" / "appbench.py", "import httpx\n")
    write(tmp_path / "predictor" / "__init__.py", "")
    write(tmp_path / "predictor" / "media.py", "import numpy\n")
    write(tmp_path / "predictor" / "sub" / "part.py", "")
    write(tmp_path / "predictor" / "__pycache__" / "media.cpython-311.pyc", b"\0\1")
    write(tmp_path / "assets" / "m.keras", b"PK\3\4" + bytes(2000))
    write(tmp_path / "assets" / "m.json", "{}")
    write(tmp_path / "assets" / "examples.npz", b"PK\3\4")
    write(tmp_path / "assets" / "notes.txt", "scratch")
    for never in ("tests/test_x.py", "docs/a.md", "docs/models/big.keras", "runs/r/log.txt", ".git/config",
                  "train/t.py", "tools/bench.py"):
        write(tmp_path / never)
    return tmp_path


UPLOADED = ["README.md", "app.py", "assets/examples.npz", "assets/m.json", "assets/m.keras", "demo/__init__.py",
            "demo/run.py", "predictor/__init__.py", "predictor/media.py", "predictor/sub/part.py", "requirements.txt"]


def test_space_files_are_exactly_what_the_space_runs(tree):
    files = deploy.space_files(str(tree))
    assert [p for p, _ in files] == UPLOADED
    assert dict(files)["assets/m.keras"] == 2004 and dict(files)["app.py"] == os.path.getsize(tree / "app.py")


def test_this_repo_uploads_the_app_and_its_models_and_no_tests_docs_or_runs():
    files = dict(deploy.space_files(ROOT))
    for needed in ("app.py", "README.md", "requirements.txt", "demo/__init__.py", "predictor/__init__.py",
                   "predictor/loading.py", "assets/default.keras", "assets/default.json", "assets/examples.npz"):
        assert needed in files, needed
    assert all(size == os.path.getsize(os.path.join(ROOT, p)) for p, size in files.items())
    never = ("tests/", "docs/", "runs/", "train/", "tools/", ".git", "demo/deploy.py", "demo/appbench.py")
    assert not [p for p in files if p.startswith(never) or "__pycache__" in p or p.endswith(".pyc")]
    assert not deploy.missing_imports(list(files), ROOT)  # every module the app imports is uploaded
    with open(os.path.join(ROOT, "README.md")) as f:  # its YAML front matter is the Space's configuration
        head = f.read().split("\n---\n")[0]
    assert head.startswith("---\n") and "sdk: gradio" in head and "app_file: app.py" in head


def test_dry_run_lists_files_and_sizes_and_calls_nothing(tree, capsys):
    api = RecordingHfApi()
    assert deploy.main(["me/space", "--dry-run", "--lock-down"], api=api, root=str(tree)) is None
    assert api.calls == []
    out = capsys.readouterr().out
    listed = [line.split()[1] for line in out.splitlines() if line.strip()[:1].isdigit() and "total" not in line]
    assert listed == UPLOADED
    assert f"{2004:>12,}  assets/m.keras" in out
    total = sum(size for _, size in deploy.space_files(str(tree)))
    assert f"{total:>12,}  total: {len(UPLOADED)} files" in out
    assert "CONVLSTM_ALLOWED_MODELS=me/*" in out


def test_deploy_creates_the_space_and_uploads_in_one_commit(tree, capsys):
    api = RecordingHfApi(remote=[".gitattributes", "README.md", "app.py", "predictor/old.py", "assets/old.keras",
                                 "notes/by-the-owner.md"])
    url = deploy.main(["me/space"], api=api, root=str(tree))
    assert url == "https://huggingface.co/spaces/me/space" and url in capsys.readouterr().out
    assert api.names() == ["create_repo", "list_repo_files", "create_commit"]
    assert api.calls[0] == ("create_repo", ("me/space",), {"repo_type": "space", "space_sdk": "gradio",
                                                          "exist_ok": True, "private": False})
    assert api.calls[1] == ("list_repo_files", ("me/space",), {"repo_type": "space"})
    _, (repo_id, operations), kwargs = api.calls[2]
    assert repo_id == "me/space" and kwargs["repo_type"] == "space" and kwargs["commit_message"]
    adds = [op for op in operations if isinstance(op, CommitOperationAdd)]
    assert [op.path_in_repo for op in adds] == UPLOADED
    assert all(op.path_or_fileobj == os.path.join(str(tree), op.path_in_repo) for op in adds)
    # Stale files under the paths deploy manages go; the Space's own .gitattributes and the owner's notes stay.
    deletes = sorted(op.path_in_repo for op in operations if isinstance(op, CommitOperationDelete))
    assert deletes == ["assets/old.keras", "predictor/old.py"]
    assert len(operations) == len(adds) + len(deletes)


def test_lock_down_sets_the_public_space_variables_before_the_upload(tree):
    api = RecordingHfApi()
    deploy.main(["me/space", "--private", "--lock-down"], api=api, root=str(tree))
    assert api.calls[0][2]["private"] is True
    assert api.names() == ["create_repo"] + ["add_space_variable"] * 6 + ["list_repo_files", "create_commit"]
    variables = {args[1]: args[2] for name, args, _ in api.calls if name == "add_space_variable"}
    assert {args[0] for name, args, _ in api.calls if name == "add_space_variable"} == {"me/space"}
    assert variables == {"CONVLSTM_ALLOWED_MODELS": "me/*", "CONVLSTM_MAX_MODELS": "3",
                         "CONVLSTM_MAX_TOTAL_PARAMS": "20000000", "CONVLSTM_MAX_MODEL_MB": "20",
                         "CONVLSTM_MAX_UNPACKED_MB": "80", "CONVLSTM_MAX_PARAMS": "5000000"}


def test_the_variables_are_ones_the_app_reads():
    """A misspelt variable would be set on the Space and silently ignored by the app."""
    read = ""
    for folder in ("demo", "predictor"):
        for name in os.listdir(os.path.join(ROOT, folder)):
            if name.endswith(".py") and name != "deploy.py":
                with open(os.path.join(ROOT, folder, name)) as f:
                    read += f.read()
    for key in deploy.lock_down_variables("me/space"):
        assert f'"{key}"' in read, key


@pytest.mark.parametrize("bad", ["no-slash", "a/b/c", "me/../space", "", "me/space?x=1", "me/--x", "me/%2e"])
def test_a_bad_space_id_is_refused_clearly_before_any_call(tree, bad):
    api = RecordingHfApi()
    with pytest.raises(SystemExit) as e:
        deploy.main([bad], api=api, root=str(tree))
    assert "owner/space-name" in str(e.value.code) and repr(bad) in str(e.value.code)
    assert api.calls == []


@pytest.mark.parametrize("dry", [[], ["--dry-run"]])
def test_a_tree_that_imports_what_is_not_uploaded_is_refused(tree, dry):
    write(tree / "demo" / "run.py", "def card():\n    from train.export import training_commands\n")
    api = RecordingHfApi()
    with pytest.raises(SystemExit) as e:
        deploy.main(["me/space", *dry], api=api, root=str(tree))
    assert "demo/run.py imports train" in str(e.value.code)
    assert api.calls == []


def test_a_tree_without_app_py_is_refused(tree):
    os.remove(tree / "app.py")
    with pytest.raises(SystemExit, match="app.py missing"):
        deploy.main(["me/space", "--dry-run"], api=RecordingHfApi(), root=str(tree))
