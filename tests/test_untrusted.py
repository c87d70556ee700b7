"""Models from strangers: refused as data, in milliseconds, before Keras allocates anything (predictor.untrusted).

Each crafted file below would, without the checks, make Keras build gigabytes of weights (or unpack a zip bomb)
before failing. The tests load them through `load_predictor`, through the app's model cache and through the Hub
(the offline `FakeHub` of test_hub.py), and check the message, the time taken and that memory stayed flat.
"""

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile

import pytest

from demo import models as app_models  # where the app's model cache lives
from demo import session
from predictor import load_predictor
from predictor.untrusted import count_params, inspect_keras_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "assets", "default.keras")


def craft(path, config: dict, weights_from=DEFAULT, extra: dict | None = None) -> str:
    """A `.keras` archive with `config` as its config.json and the (small) weights of another model."""
    with zipfile.ZipFile(weights_from) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as dst:
        dst.writestr("metadata.json", src.read("metadata.json"))
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("model.weights.h5", src.read("model.weights.h5"))
        for name, data in (extra or {}).items():
            dst.writestr(name, data)
    return str(path)


def default_config() -> dict:
    with zipfile.ZipFile(DEFAULT) as z:
        return json.loads(z.read("config.json"))


def huge_conv2d_config(filters=200_000) -> dict:
    """A functional model whose one Conv2D (kernel 50, 256 input channels) declares billions of weights."""
    dtype = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}, "registered_name": None}
    return {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
            "config": {"name": "huge", "trainable": True, "layers": [
                {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None, "name": "in",
                 "config": {"batch_shape": [None, 64, 64, 256], "dtype": "float32", "name": "in"},
                 "inbound_nodes": []},
                {"module": "keras.layers", "class_name": "Conv2D", "registered_name": None, "name": "conv",
                 "config": {"name": "conv", "dtype": dtype, "filters": filters, "kernel_size": [50, 50],
                            "strides": [1, 1], "padding": "same", "use_bias": True},
                 "build_config": {"input_shape": [None, 64, 64, 256]},
                 "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__",
                                              "config": {"shape": [None, 64, 64, 256], "dtype": "float32",
                                                         "keras_history": ["in", 0, 0]}}], "kwargs": {}}]}],
                "input_layers": [["in", 0, 0]], "output_layers": [["conv", 0, 0]]}}


def streaming_config(**options) -> dict:
    config = default_config()
    config["config"].update(options)
    return config


def zip_bomb(path, unpacked_mb=300) -> str:
    """A `.keras` archive with a real config whose weights entry unpacks to `unpacked_mb` MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", json.dumps(default_config()))
        with z.open("model.weights.h5", "w", force_zip64=True) as f:
            block = bytes(2**20)
            for _ in range(unpacked_mb):
                f.write(block)
    return str(path)


@pytest.fixture(scope="module")
def attacks(tmp_path_factory):
    import keras

    folder = tmp_path_factory.mktemp("attacks")
    inp = keras.Input((64, 64, 256))
    keras.Model(inp, keras.layers.Conv2D(2, 1)(inp)).save(folder / "small.keras")  # the small original
    return {
        "huge Conv2D, 2 KB": craft(folder / "huge.keras", huge_conv2d_config(), weights_from=folder / "small.keras"),
        "200M-parameter StreamingConvLSTM": craft(folder / "wide.keras",
                                                  streaming_config(filters=[1024, 1024], motion_features=0)),
        "zip bomb": zip_bomb(folder / "bomb.keras"),
    }


EXPECTED = {
    "huge Conv2D, 2 KB": r"declares 128,000,200,000 parameters, over the limit of 20,000,000",
    "200M-parameter StreamingConvLSTM": r"declares 320,385,250 parameters, over the limit of 20,000,000",
    "zip bomb": r"unpacks to 300\.\d MB, over the limit of 200 MB",
}


def test_crafted_files_are_small_and_refused_in_milliseconds(attacks):
    assert os.path.getsize(attacks["huge Conv2D, 2 KB"]) < 8_000
    for name, path in attacks.items():
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=EXPECTED[name]):
            load_predictor(path)
        assert time.perf_counter() - t0 < 1.0, name


MEMORY_PROBE = (
    "import json, resource, sys, time\n"
    "from predictor import load_predictor\n"
    "load_predictor()\n"  # TensorFlow, Keras and the default model in memory first: the baseline
    "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
    "out = {}\n"
    "for path in sys.argv[1:]:\n"
    "    t0 = time.perf_counter()\n"
    "    try:\n"
    "        load_predictor(path)\n"
    "        out[path] = 'loaded'\n"
    "    except ValueError as e:\n"
    "        out[path] = str(e)\n"
    "    out[path + ' seconds'] = time.perf_counter() - t0\n"
    "out['grew_kb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before\n"
    "print(json.dumps(out))\n"
)


@pytest.fixture(scope="module")
def memory_probe(attacks):
    """`MEMORY_PROBE` on the attacks in a fresh process, started at the module's start (`start_early`): it
    imports TensorFlow while the in-process tests run."""
    proc = subprocess.Popen([sys.executable, "-c", MEMORY_PROBE, *attacks.values()], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
        proc.communicate()


@pytest.fixture(scope="module", autouse=True)
def _memory_probe_early(request, start_early):
    start_early(request, "memory_probe")


@pytest.mark.parametrize("layer,message", [
    ({"module": "keras.layers", "class_name": "Lambda", "config": {}}, "Lambda, a layer that can run arbitrary code"),
    ({"module": "keras.layers", "class_name": "TFSMLayer", "config": {}}, "TFSMLayer, a layer that can run"),
    ({"module": "os", "class_name": "system", "config": {}}, r"class 'system' \(module 'os'\) is not on the allow-list"),
    ({"module": "keras.layers", "class_name": "MultiHeadAttention", "config": {}}, "'MultiHeadAttention'.*allow-list"),
    ({"module": "keras.layers", "class_name": "Dense", "config": {"units": 4}}, "cannot count the weights of its Dense"),
])
def test_classes_outside_the_allow_list_are_refused(tmp_path, layer, message):
    config = huge_conv2d_config(filters=2)
    config["config"]["layers"].append({**layer, "registered_name": None, "name": "x", "inbound_nodes": []})
    with pytest.raises(ValueError, match="Refusing to load .*" + message):
        inspect_keras_file(craft(tmp_path / "m.keras", config))


def test_parameter_count_from_config_matches_keras(tiny_model_path):
    """Counted without building: equal to what Keras builds, for the streaming and the example's models."""
    import keras

    from predictor.models import build_model

    with zipfile.ZipFile(tiny_model_path) as z:
        assert count_params(json.loads(z.read("config.json"))) == keras.saving.load_model(tiny_model_path).count_params()
    assert inspect_keras_file(DEFAULT)["parameters"] == load_predictor(DEFAULT).model.count_params()
    seed = build_model("seed", causal_head=True)
    assert count_params(json.loads(json.dumps(keras.saving.serialize_keras_object(seed)))) == seed.count_params()
    wide = build_model("streaming", filters=(16, 8), kernel_size=3, motion_features=4, hypotheses=3, window=5)
    assert count_params(keras.saving.serialize_keras_object(wide)) == wide.count_params()


def test_limits_are_configurable(monkeypatch):
    n = inspect_keras_file(DEFAULT)["parameters"]
    monkeypatch.setenv("CONVLSTM_MAX_PARAMS", "400000")
    with pytest.raises(ValueError, match=f"declares {n:,} parameters, over the limit of 400,000"):
        inspect_keras_file(DEFAULT)
    monkeypatch.setenv("CONVLSTM_MAX_PARAMS", "1e6")
    monkeypatch.setenv("CONVLSTM_MAX_MODEL_MB", "1")
    with pytest.raises(ValueError, match=r"the model file is \d\.\d MB, over the limit of 1 MB"):
        inspect_keras_file(DEFAULT)


def test_not_a_zip_and_bad_config_are_clear(tmp_path):
    (tmp_path / "text.keras").write_text("hello")
    with pytest.raises(ValueError, match="not a .keras archive"):
        inspect_keras_file(str(tmp_path / "text.keras"))
    path = tmp_path / "bad.keras"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("config.json", "{not json")
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        inspect_keras_file(str(path))


def test_oversized_hub_file_is_refused_from_metadata_before_download(fake_hub, monkeypatch, tmp_path):
    fake_hub.add("me/big", {"model.keras": DEFAULT})
    monkeypatch.setenv("CONVLSTM_MAX_MODEL_MB", "1")
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=r"hf://me/big/model.keras: the model file is \d\.\d MB, over the limit of 1 MB"):
        load_predictor("hf://me/big")
    assert time.perf_counter() - t0 < 1.0 and fake_hub.downloads == []  # not one byte of it fetched
    monkeypatch.delenv("CONVLSTM_MAX_MODEL_MB")
    assert load_predictor("hf://me/big").kind == "streaming"


def test_crafted_hub_models_are_refused_by_the_app(fake_hub, attacks, monkeypatch):
    """Through `session.get_predictor`, what `/load_model` and `/predict`'s model field call."""
    for i, (name, path) in enumerate(attacks.items()):
        fake_hub.add(f"evil/m{i}", {"model.keras": path})
        t0 = time.perf_counter()
        with pytest.raises(ValueError, match=EXPECTED[name]):
            session.get_predictor(f"hf://evil/m{i}")
        assert time.perf_counter() - t0 < 1.0, name
    assert not any(k.startswith("hf://evil") for k in app_models._MODELS)


def test_operator_allow_list(fake_hub, tiny_model_path, monkeypatch):
    fake_hub.add("me/tiny", {"model.keras": tiny_model_path})
    fake_hub.add("you/tiny", {"model.keras": tiny_model_path})
    monkeypatch.setenv("CONVLSTM_ALLOWED_MODELS", "me/*, keras-io/conv-lstm")
    assert session.get_predictor("hf://me/tiny").kind == "streaming"
    with pytest.raises(ValueError, match=r"does not load 'you/tiny': its operator allows only these Hub models: "
                                         r"me/\*, keras-io/conv-lstm \(CONVLSTM_ALLOWED_MODELS\)"):
        session.get_predictor("hf://you/tiny")
    monkeypatch.setenv("CONVLSTM_ALLOWED_MODELS", "none")
    with pytest.raises(ValueError, match="allows no Hub models"):
        session.check_source("hf://me/tiny")
    assert session.check_source("default") == "default"  # bundled models always load


def test_app_cache_is_bounded_by_count_and_parameters(fake_hub, tiny_model_path, monkeypatch, tmp_path):
    """The app keeps at most MAX_MODELS models and MAX_TOTAL_PARAMS parameters, least recently used out first."""
    for i in range(3):
        shutil.copyfile(tiny_model_path, tmp_path / f"t{i}.keras")
        fake_hub.add(f"me/t{i}", {"model.keras": str(tmp_path / f"t{i}.keras")})
    monkeypatch.setattr(app_models, "_MODELS", type(app_models._MODELS)())
    tiny = load_predictor(tiny_model_path).model.count_params()
    monkeypatch.setattr(app_models, "MAX_MODELS", 2)
    for i in range(3):
        session.get_predictor(f"hf://me/t{i}")
    assert list(app_models._MODELS) == ["hf://me/t1", "hf://me/t2"]
    monkeypatch.setattr(app_models, "MAX_TOTAL_PARAMS", load_predictor("default").model.count_params() + tiny)
    session.get_predictor("default")  # only one tiny model still fits beside the default
    assert list(app_models._MODELS) == ["hf://me/t2", "default"]


def test_safe_mode_still_refuses_code_in_keras_itself(tmp_path):
    """Below our checks, Keras' own safe_mode (keras >= 3.14, see requirements.txt) refuses a Lambda layer
    and an unknown module/class in the config."""
    import keras

    inp = keras.Input((4,))
    keras.Model(inp, keras.layers.Lambda(lambda t: t * 2.0)(inp)).save(tmp_path / "lambda.keras")
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(tmp_path / "lambda.keras", safe_mode=True)
    config = huge_conv2d_config(filters=2)
    config["config"]["layers"][1].update(module="os", class_name="system")
    with pytest.raises(Exception, match="[Cc]ould not (locate|deserialize)|system"):
        keras.saving.load_model(craft(tmp_path / "os.keras", config), safe_mode=True)


@pytest.mark.slow
def test_crafted_files_leave_memory_flat(attacks, memory_probe):
    """In a fresh process: peak resident memory before and after trying all three (Keras would take GBs). Last in
    the module: its process works while the tests above run."""
    stdout, stderr = memory_probe.communicate(timeout=300)
    assert memory_probe.returncode == 0, stderr[-3000:]
    out = json.loads(stdout.strip().splitlines()[-1])
    for path in attacks.values():
        assert out[path].startswith("Refusing to load") and out[path + " seconds"] < 1.0, out
    assert out["grew_kb"] < 50_000, out  # under 50 MB more at peak
