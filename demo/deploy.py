"""Put the app on a Hugging Face Space with one command (docs/spaces.md).

    python -m demo.deploy owner/space [--private] [--lock-down] [--dry-run]

Creates the Space if it does not exist (Gradio SDK; README.md's YAML front matter sets the Gradio and Python
versions), then uploads exactly the files the Space runs with, in one commit through the Hub client (which stores
the binary models correctly; a plain `git push` of them is refused without LFS): `app.py`, `README.md`,
`requirements.txt`, the Python files of `demo/` and `predictor/` and the bundled models, cards and examples in
`assets/`. Never tests, docs, runs, training code or `.git`. Files that an earlier deploy put under those paths and
that are gone here are deleted in the same commit.

`--lock-down` sets the variables that bound what strangers may make a public Space do (docs/reliability.md), before
the upload, so the Space's first start is already locked down. `--dry-run` lists the files with their sizes and
calls nothing on the Hub. Before any Hub call, the files are checked to import only what is uploaded: a Space that
would fail at `import` is refused here, not discovered in its build log.
"""

from __future__ import annotations

import argparse
import ast
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACE_FILES = ("app.py", "README.md", "requirements.txt")  # README.md's front matter configures the Space
# Folder -> the file patterns of it that the Space runs with (searched in sub-folders too).
SPACE_FOLDERS = {"demo": ("*.py",), "predictor": ("*.py",), "assets": ("*.keras", "*.json", "*.npz")}
DEV_ONLY = ("demo/appbench.py", "demo/deploy.py")  # the load test and this command: run by developers, not the Space
HARDWARE = "cpu-basic"  # the free Space: 2 vCPU, 16 GB memory


def lock_down_variables(repo_id: str) -> dict[str, str]:
    """The public-Space settings `--lock-down` sets (name -> value): only the owner's Hub models may load, and
    tighter bounds on how many are kept and how large each may be than the app's defaults (docs/reliability.md)."""
    owner = repo_id.split("/")[0]
    return {
        "CONVLSTM_ALLOWED_MODELS": f"{owner}/*",  # the bundled models always load; other Hub repos are refused
        "CONVLSTM_MAX_MODELS": "3",  # models kept in memory (default 4)
        "CONVLSTM_MAX_TOTAL_PARAMS": "20000000",  # their parameters, summed (default 40,000,000)
        "CONVLSTM_MAX_MODEL_MB": "20",  # one model file (default 50 MB)
        "CONVLSTM_MAX_UNPACKED_MB": "80",  # its archive unpacked (default 200 MB)
        "CONVLSTM_MAX_PARAMS": "5000000",  # one model's parameters (default 20,000,000; the bundled have 541,570)
    }


def _walk(root: str, folder: str, patterns: tuple[str, ...]) -> list[str]:
    import fnmatch

    found = []
    for here, dirs, files in os.walk(os.path.join(root, folder)):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        rel = os.path.relpath(here, root).replace(os.sep, "/")
        found += [f"{rel}/{f}" for f in sorted(files) if any(fnmatch.fnmatch(f, p) for p in patterns)]
    return found


def space_files(root: str = ROOT) -> list[tuple[str, int]]:
    """`(path relative to root, size in bytes)` of every file the Space runs with, sorted by path.

    Raises ValueError when one of `SPACE_FILES` is missing (a Space without app.py or its README does not start).
    """
    missing = [f for f in SPACE_FILES if not os.path.isfile(os.path.join(root, f))]
    if missing:
        raise ValueError(f"Not a deployable tree: {', '.join(missing)} missing under {root}")
    paths = list(SPACE_FILES)
    for folder, patterns in SPACE_FOLDERS.items():
        paths += [p for p in _walk(root, folder, patterns) if p not in DEV_ONLY]
    return [(p, os.path.getsize(os.path.join(root, p))) for p in sorted(paths)]


def _imported_roots(path: str) -> set[str]:
    """Top-level names of every absolute import in the Python file at `path` (lazy ones inside functions too)."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def missing_imports(files: list[str], root: str = ROOT) -> list[str]:
    """One line per uploaded Python file that imports a module of this repository that is not uploaded
    (e.g. "demo/session.py imports train"); empty when the Space has every module it imports."""
    uploaded = {f.split("/")[0].removesuffix(".py") for f in files}
    local = {n.removesuffix(".py") for n in os.listdir(root)
             if n.endswith(".py") or (os.path.isdir(os.path.join(root, n)) and not n.startswith("."))}
    problems = []
    for f in files:
        if f.endswith(".py"):
            absent = sorted((_imported_roots(os.path.join(root, f)) & local) - uploaded)
            problems += [f"{f} imports {name}" for name in absent]
    return problems


def _print_listing(files: list[tuple[str, int]]) -> None:
    for path, size in files:
        print(f"{size:>12,}  {path}")
    total = sum(size for _, size in files)
    print(f"{total:>12,}  total: {len(files)} files, {total / 2**20:.1f} MiB")


def _operations(files: list[str], remote: list[str], root: str) -> list:
    """The one commit: every file added (the Hub client hashes them and skips unchanged ones), and remote files under
    the paths this command manages that are no longer part of the Space deleted. Other remote files (the Space's own
    .gitattributes, anything its owner added) are left alone."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    managed = tuple(f"{folder}/" for folder in SPACE_FOLDERS) + SPACE_FILES
    adds = [CommitOperationAdd(path_in_repo=f, path_or_fileobj=os.path.join(root, f)) for f in files]
    stale = sorted(set(r for r in remote if r.startswith(managed) or r in SPACE_FILES) - set(files))
    return adds + [CommitOperationDelete(path_in_repo=r) for r in stale]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m demo.deploy", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo_id", help="the Space, owner/space-name (created if it does not exist)")
    ap.add_argument("--private", action="store_true", help="create the Space private (an existing one keeps its "
                    "visibility)")
    ap.add_argument("--lock-down", action="store_true",
                    help="set the public-Space variables: " + ", ".join(lock_down_variables("owner/x")))
    ap.add_argument("--dry-run", action="store_true", help="list the files and their sizes; call nothing on the Hub")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None, api=None, root: str = ROOT) -> str | None:
    """Deploy (see module docstring); returns the Space's URL, or None for `--dry-run`.

    `api` is the `huggingface_hub.HfApi` to call (a new one, with the token of `HF_TOKEN` or `hf auth login`, when
    None); `root` is the tree to deploy. Exits with a message on a bad repo id or a tree whose imports would fail.
    """
    from predictor.hub import validate_repo_id

    args = parse_args(argv)
    try:
        repo_id = validate_repo_id(args.repo_id)
    except ValueError as e:
        sys.exit(f"python -m demo.deploy: a Space id is owner/space-name. {e}")
    try:
        files = space_files(root)
    except ValueError as e:
        sys.exit(f"python -m demo.deploy: {e}")
    if args.dry_run:
        print(f"Would upload to https://huggingface.co/spaces/{repo_id} ({'private' if args.private else 'public'}"
              f" if created, hardware {HARDWARE}):")
        _print_listing(files)
        if args.lock_down:
            print("and set: " + " ".join(f"{k}={v}" for k, v in lock_down_variables(repo_id).items()))
    problems = missing_imports([f for f, _ in files], root)
    if problems:
        sys.exit("python -m demo.deploy: the Space would fail at import; it would not have the module that "
                 + "; ".join(problems) + ". Only " + ", ".join(SPACE_FILES + tuple(f"{d}/" for d in SPACE_FOLDERS))
                 + " are uploaded (demo/deploy.py).")
    if args.dry_run:
        return None
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=args.private)
    if args.lock_down:  # before the files: the Space starts with these set
        for key, value in lock_down_variables(repo_id).items():
            api.add_space_variable(repo_id, key, value, description="set by python -m demo.deploy --lock-down")
    remote = api.list_repo_files(repo_id, repo_type="space")
    operations = _operations([f for f, _ in files], remote, root)
    api.create_commit(repo_id, operations, commit_message="Deploy with python -m demo.deploy", repo_type="space")
    url = f"https://huggingface.co/spaces/{repo_id}"
    print(f"Uploaded {len(files)} files to {url} (it builds and starts in a few minutes)")
    return url


if __name__ == "__main__":
    main()
