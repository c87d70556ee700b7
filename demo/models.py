"""The app's models: which it may load (bundled names, allowed Hub ids) and the one bounded cache of loaded ones.

`get_predictor` accepts only bundled model names and `hf://owner/repo` ids (never a path on the server; on a public
deployment only the repos `CONVLSTM_ALLOWED_MODELS` names), loads one model at a time and keeps at most
`MAX_MODELS` models and `MAX_TOTAL_PARAMS` parameters, least recently used dropped first.
"""

from __future__ import annotations

import fnmatch
import os
import threading
from collections import OrderedDict

from predictor import bundled_models, load_predictor
from predictor.loading import ALIASES
from predictor.hub import is_hub_source, parse_hub_id

MAX_MODELS = int(os.environ.get("CONVLSTM_MAX_MODELS", 4))  # loaded models kept in memory (the default is one)
MAX_TOTAL_PARAMS = int(float(os.environ.get("CONVLSTM_MAX_TOTAL_PARAMS", 40_000_000)))  # summed over _MODELS
_MODELS: OrderedDict = OrderedDict()  # source -> Predictor, most recently used last
_MODELS_LOCK = threading.Lock()  # guards _MODELS
_LOAD_LOCK = threading.Lock()  # one model load at a time: a burst of Hub ids cannot multiply peak memory


def allowed_hub_repos() -> list[str] | None:
    """Patterns of the Hub repos this server may load (`CONVLSTM_ALLOWED_MODELS`), None when any may load.

    Comma-separated `owner/repo` patterns with shell wildcards (`me/*,keras-io/conv-lstm`); an empty value or
    `none` allows no Hub model at all. Bundled models are always allowed.
    """
    value = os.environ.get("CONVLSTM_ALLOWED_MODELS")
    if value is None:
        return None
    return [p.strip() for p in value.split(",") if p.strip() and p.strip().lower() != "none"]


def check_source(source) -> str:
    """`source` if it is a bundled model name or a well-formed `hf://owner/repo[/file.keras]` id that
    `CONVLSTM_ALLOWED_MODELS` admits; None or blank means "default".

    Paths on the server are refused: the app must not load whatever file a request names.
    """
    text = "default" if source is None or (isinstance(source, str) and not source.strip()) else source
    if not isinstance(text, str):
        raise ValueError(f"A model must be a bundled model name or hf://owner/repo. Received: {source!r}")
    text = text.strip()
    if is_hub_source(text):
        repo_id, _ = parse_hub_id(text)  # raises ValueError for '..', '%' escapes, extra '/', bad characters
        allowed = allowed_hub_repos()
        if allowed is not None and not any(fnmatch.fnmatchcase(repo_id, p) for p in allowed):
            raise ValueError(f"This server does not load {repo_id!r}: its operator allows "
                             + (f"only these Hub models: {', '.join(allowed)}" if allowed else "no Hub models")
                             + " (CONVLSTM_ALLOWED_MODELS). The bundled models are always available.")
        return text
    names = bundled_models()
    text = ALIASES.get(text, text)  # a bundled model's earlier name (share links made before the rename)
    if text not in names:
        raise ValueError(f"Unknown model {text!r}: choose a bundled model ({', '.join(names)}) or a Hub model "
                         "written hf://owner/repo.")
    return text


def _cached(source):
    with _MODELS_LOCK:
        if source in _MODELS:
            _MODELS.move_to_end(source)
            return _MODELS[source]
    return None


def _keep(source, predictor) -> None:
    """Add `predictor`, then drop the least recently used until MAX_MODELS and MAX_TOTAL_PARAMS hold."""
    with _MODELS_LOCK:
        _MODELS[source] = predictor
        params = lambda: sum(p.model.count_params() for p in _MODELS.values())  # noqa: E731
        while len(_MODELS) > 1 and (len(_MODELS) > MAX_MODELS or params() > MAX_TOTAL_PARAMS):
            _MODELS.popitem(last=False)


def get_predictor(source="default"):
    """The `Predictor` for a bundled name or Hub id (see `check_source`), loaded once and kept.

    The only model cache of the app: at most MAX_MODELS models and MAX_TOTAL_PARAMS parameters, least recently
    used dropped first; loads happen one at a time (each file is checked by `predictor.untrusted` before Keras
    builds it). Raises ValueError with a message for people (bad id, not allowed, not found, no network, unsafe
    or oversized file, wrong shapes).
    """
    source = check_source(source)
    predictor = _cached(source)
    if predictor is not None:
        return predictor
    with _LOAD_LOCK:  # a slow Hub download makes other *new* models wait; cached models keep serving
        predictor = _cached(source)  # loaded by the request we waited for
        if predictor is None:
            # trust_legacy stays False: .h5 / SavedModels are refused. cache=False: _MODELS is the one cache.
            predictor = load_predictor(source, cache=False)
            _keep(source, predictor)
        return predictor
