"""Models on the Hugging Face Hub: `hf://owner/repo` ids, picking the model file, downloading it safely.

    from predictor.hub import download_model
    fmt, path = download_model("hf://owner/repo")                      # ("keras", ".../model.keras")
    fmt, path = download_model("hf://keras-io/conv-lstm", trust_legacy=True)   # ("savedmodel", ".../snapshot")

Everything goes through `huggingface_hub`, so downloads are cached (`HF_HOME`), `HF_HUB_OFFLINE=1` uses the
cache only and `HF_TOKEN` (or `hf auth login`) opens private repos. A Keras 3 `.keras` file is the trusted
format (it loads with `safe_mode=True`); a legacy `.h5` file or a TF SavedModel can run code or graph ops
of its author's choosing, so it is neither chosen nor downloaded unless the caller passes `trust_legacy=True`.
A `.keras` file larger than `CONVLSTM_MAX_MODEL_MB` is refused from the Hub's metadata, before it is downloaded.
Every failure is a `ValueError` that says what was expected and what happened.
"""

from __future__ import annotations

import os
import re
import socket
import urllib.parse

from predictor.untrusted import check_file_size

HF_PREFIX = "hf://"
MODEL_FILE = "model.keras"  # what `python -m train.push_to_hub` uploads, preferred when a repo has several
CARD_FILE = "model.json"  # its JSON card (read as the predictor's `info`)
KERAS_EXTS = (".keras",)
LEGACY_EXTS = (".h5", ".hdf5")
SAVED_MODEL = "saved_model.pb"
# A Hub repo id part: letters, digits, '-', '_', '.', starting with a letter or digit (the Hub's own rule,
# checked again by `huggingface_hub.utils.validate_repo_id`); a file name: the same, plus its extension.
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]{0,95}"
_HUB_ID = re.compile(rf"hf://({_PART})/({_PART})(?:/({_PART}\.(?:keras|h5|hdf5)))?")
_REPO_ID = re.compile(rf"({_PART})/({_PART})")


def is_hub_source(source) -> bool:
    return isinstance(source, str) and source.strip().startswith(HF_PREFIX)


def validate_repo_id(repo_id: str) -> str:
    """`owner/repo` with nothing else in it (no `..`, `%`, extra `/`); returns it unchanged."""
    if not isinstance(repo_id, str) or not _REPO_ID.fullmatch(repo_id) or ".." in repo_id or "--" in repo_id:
        raise ValueError(
            "A Hub repo id must be written owner/repo (letters, digits, '-', '_', '.'; no '..', '--', "
            f"'%' or extra '/'). Received: repo_id={repo_id!r}"
        )
    from huggingface_hub.utils import validate_repo_id as hub_validate

    try:
        hub_validate(repo_id)
    except Exception as e:  # HFValidationError: same rule, worded by the Hub
        raise ValueError(f"Invalid Hub repo id. Received: repo_id={repo_id!r} ({e})") from e
    return repo_id


def parse_hub_id(source: str) -> tuple[str, str | None]:
    """`hf://owner/repo[/file.keras]` -> (`owner/repo`, file name or None).

    Refused: URL-encoded parts, `..`, empty or extra path parts, sub-folders, query strings, other extensions
    (`.h5`/`.hdf5` parse here but load only with `trust_legacy=True`).
    """
    text = source.strip() if isinstance(source, str) else source
    m = _HUB_ID.fullmatch(text) if isinstance(text, str) else None
    # unquote() catches %2e%2e and friends: an id must read the same before and after URL-decoding.
    if m is None or urllib.parse.unquote(text) != text or ".." in text[len(HF_PREFIX):]:
        raise ValueError(
            "A Hub model must be written hf://owner/repo or hf://owner/repo/file.keras (no sub-folders, "
            f"'..', '%' escapes or extra '/'). Received: {source!r}"
        )
    repo_id = validate_repo_id(f"{m.group(1)}/{m.group(2)}")
    return repo_id, m.group(3)


def model_format(name: str) -> str:
    """`"keras"`, `"h5"` or `"savedmodel"` for a file name in a repo (a path ending in `saved_model.pb`)."""
    if name.endswith(KERAS_EXTS):
        return "keras"
    if name.endswith(LEGACY_EXTS):
        return "h5"
    if name == SAVED_MODEL or name.endswith("/" + SAVED_MODEL):
        return "savedmodel"
    raise ValueError(f"Not a model file: expected .keras, .h5 or saved_model.pb. Received: {name!r}")


def choose_model_file(files: list[str], repo_id: str) -> tuple[str, str]:
    """(format, file) of the model to load from a repo's file list.

    Preference: `model.keras`, else the only top-level `.keras` file; failing that a legacy `.h5` or a
    SavedModel (its `saved_model.pb`, top level or one folder down), which the caller must still trust.
    """
    top = [f for f in files if "/" not in f]
    keras_files = sorted(f for f in top if f.endswith(KERAS_EXTS))
    if MODEL_FILE in keras_files:
        return "keras", MODEL_FILE
    if len(keras_files) == 1:
        return "keras", keras_files[0]
    if keras_files:
        raise ValueError(
            f"Hub repo {repo_id!r} has several .keras files; name one: hf://{repo_id}/<file>.keras. "
            f"Received files: {', '.join(keras_files)}"
        )
    saved = sorted((f for f in files if f.endswith(SAVED_MODEL) and f.count("/") <= 1), key=lambda f: f.count("/"))
    if saved and model_format(saved[0]) == "savedmodel":
        return "savedmodel", saved[0]
    h5 = sorted(f for f in top if f.endswith(LEGACY_EXTS))
    if len(h5) == 1:
        return "h5", h5[0]
    shown = ", ".join(files[:12]) + (" ..." if len(files) > 12 else "")
    raise ValueError(
        f"Hub repo {repo_id!r} has no compatible model file: expected a Keras 3 .keras file (or, trusted "
        f"explicitly, one .h5 file or a TF SavedModel). Received files: {shown or 'none'}"
    )


def network_available() -> bool:
    """False when the Hub cannot be used online: `HF_HUB_OFFLINE`, or its host name does not resolve.

    The DNS probe answers in milliseconds, where `huggingface_hub` would retry an unresolvable host for
    about 25 s per call (a frozen app). Behind a proxy local DNS may fail while the Hub works, so it is skipped.
    """
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    host = urllib.parse.urlparse(constants.ENDPOINT).hostname
    try:
        socket.getaddrinfo(host, 443)
    except (OSError, UnicodeError):
        return False
    return True


def _hub_error(e: Exception, repo_id: str, filename: str | None = None) -> ValueError:
    """One clear `ValueError` for any failure of a Hub call (most specific class first: the classes nest)."""
    from huggingface_hub import errors

    what = f"{repo_id!r}" + (f" file {filename!r}" if filename else "")
    if isinstance(e, errors.GatedRepoError):
        return ValueError(f"Hub repo {repo_id!r} is gated: accept its terms on the Hub and set HF_TOKEN. ({e})")
    if isinstance(e, errors.RepositoryNotFoundError):
        return ValueError(f"Hub repo {repo_id!r} was not found (or it is private and no HF_TOKEN was given).")
    if isinstance(e, errors.RevisionNotFoundError):
        return ValueError(f"Hub repo {repo_id!r} has no 'main' revision.")
    if isinstance(e, (errors.LocalEntryNotFoundError, errors.OfflineModeIsEnabled)):
        return ValueError(
            f"Could not reach the Hugging Face Hub for {what} and it is not in the local cache "
            "(no network, or HF_HUB_OFFLINE=1). Load it once online, or use a local .keras file."
        )
    if isinstance(e, errors.EntryNotFoundError):
        return ValueError(f"Hub repo {repo_id!r} has no file {filename!r}.")
    if isinstance(e, errors.HfHubHTTPError):
        return ValueError(f"The Hugging Face Hub refused the request for {what}: {str(e).splitlines()[0]}")
    return ValueError(f"Could not reach the Hugging Face Hub for {what}: {type(e).__name__}: {e}")


def _network_errors():
    from huggingface_hub import errors

    return (errors.HTTPError, OSError)  # httpx transport errors (no network) and the Hub's own, all HTTPError


def list_files(repo_id: str, online: bool) -> tuple[list[str], bool]:
    """(files of the repo's main revision, still online?). Offline: the files of the cached snapshot."""
    import huggingface_hub
    from huggingface_hub import errors

    if online:
        try:
            return list(huggingface_hub.list_repo_files(repo_id)), True
        except errors.HfHubHTTPError as e:  # the Hub answered: unknown repo, no access, server error
            raise _hub_error(e, repo_id) from e
        except _network_errors():
            pass  # no answer (network gone, offline mode): what the cache holds may still do
    try:
        snapshot = huggingface_hub.snapshot_download(repo_id, local_files_only=True)
    except _network_errors() as e:
        raise _hub_error(errors.LocalEntryNotFoundError(str(e)), repo_id) from e
    files = [os.path.relpath(os.path.join(d, f), snapshot).replace(os.sep, "/")
             for d, _, names in os.walk(snapshot) for f in names]
    return sorted(files), False


def untrusted_error(fmt: str, where: str) -> ValueError:
    kind = "a TF SavedModel (Keras 2)" if fmt == "savedmodel" else "a legacy Keras .h5 file"
    return ValueError(
        f"Refusing to load {where}: it is {kind}, a format that can run code or graph operations chosen by its "
        "author and that safe_mode cannot check. Load it only if you trust its author: "
        "load_predictor(source, trust_legacy=True)."
    )


def remote_size(repo_id: str, filename: str) -> int:
    """Size in bytes of `filename` in the repo's main revision, from the Hub's metadata (nothing downloaded)."""
    import huggingface_hub

    info = huggingface_hub.get_paths_info(repo_id, [filename])
    if not info or getattr(info[0], "size", None) is None:
        raise ValueError(f"Hub repo {repo_id!r} has no file {filename!r}.")
    return int(info[0].size)


def download_model(source: str, trust_legacy: bool = False) -> tuple[str, str]:
    """(format, local path) of the model behind `hf://owner/repo[/file]`, downloaded or from the cache.

    format is "keras" (path to the `.keras` file, its JSON card `name.json` fetched beside it when the repo
    has one), "h5" (path to the file) or "savedmodel" (path to the SavedModel's folder). Legacy formats raise
    unless `trust_legacy`, before anything is downloaded.
    """
    import huggingface_hub

    repo_id, filename = parse_hub_id(source)
    online = network_available()
    files = None
    if filename is None:
        files, online = list_files(repo_id, online)
        fmt, filename = choose_model_file(files, repo_id)
    else:
        fmt = model_format(filename)
    if fmt != "keras" and not trust_legacy:
        raise untrusted_error(fmt, f"hf://{repo_id}/{filename}")
    offline = not online
    try:
        if fmt == "savedmodel":
            folder = filename[: -len(SAVED_MODEL)]
            snapshot = huggingface_hub.snapshot_download(
                repo_id, local_files_only=offline,
                allow_patterns=[folder + p for p in (SAVED_MODEL, "variables/*", "assets/*", "fingerprint.pb")],
            )
            return fmt, os.path.join(snapshot, folder)
        if online and fmt == "keras":  # refuse an oversized file before downloading a byte of it
            check_file_size(remote_size(repo_id, filename), f"hf://{repo_id}/{filename}")
        path = huggingface_hub.hf_hub_download(repo_id, filename, local_files_only=offline)
    except _network_errors() as e:
        raise _hub_error(e, repo_id, filename) from e
    card = os.path.splitext(filename)[0] + ".json"
    if files is None or card in files:
        try:  # the card is optional: a model without one still loads
            huggingface_hub.hf_hub_download(repo_id, card, local_files_only=offline)
        except _network_errors():
            pass
    return fmt, path
