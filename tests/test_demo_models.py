"""demo.models: which models the app may load, and its one bounded cache (the bundled default; no network)."""

import pytest

from demo import models
from predictor import bundled_models


def test_check_source_allows_bundled_names_and_well_formed_hub_ids(monkeypatch):
    monkeypatch.delenv("CONVLSTM_ALLOWED_MODELS", raising=False)
    assert models.check_source(None) == models.check_source("  ") == "default"
    assert models.check_source(" default ") == "default"
    assert set(bundled_models()) <= {models.check_source(n) for n in bundled_models()}
    assert models.check_source("hf://me/model") == "hf://me/model"
    for bad, message in (("/etc/passwd", "Unknown model '/etc/passwd'"), ("assets/default.keras", "Unknown model"),
                         (3, "must be a bundled model name or hf://owner/repo. Received: 3"),
                         ("hf://me/../x", "no sub-folders, '..'")):
        with pytest.raises(ValueError, match=message):
            models.check_source(bad)


def test_allow_list(monkeypatch):
    monkeypatch.setenv("CONVLSTM_ALLOWED_MODELS", " me/* , keras-io/conv-lstm,")
    assert models.allowed_hub_repos() == ["me/*", "keras-io/conv-lstm"]
    assert models.check_source("hf://me/anything") == "hf://me/anything"
    with pytest.raises(ValueError, match=r"does not load 'you/x': its operator allows only these Hub models: me/\*"):
        models.check_source("hf://you/x")
    monkeypatch.setenv("CONVLSTM_ALLOWED_MODELS", "none")
    assert models.allowed_hub_repos() == []
    with pytest.raises(ValueError, match="allows no Hub models"):
        models.check_source("hf://me/x")
    assert models.check_source("default") == "default"


def test_get_predictor_loads_once_and_keeps_the_least_recently_used_bound(monkeypatch):
    monkeypatch.setattr(models, "_MODELS", type(models._MODELS)())
    first = models.get_predictor("default")
    assert models.get_predictor(" default") is first and list(models._MODELS) == ["default"]
    monkeypatch.setattr(models, "MAX_MODELS", 1)
    models._keep("other", first)  # a second entry over MAX_MODELS pushes the oldest out
    assert list(models._MODELS) == ["other"]
