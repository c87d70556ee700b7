"""`python -m tools.bench` runs both rollout procedures and reports their times."""

import pytest

from tools import bench


@pytest.mark.slow  # the seed's procedure runs in a spawned process (SeedWorker): a TensorFlow import
def test_bench_times_both_procedures(tiny_model_path, capsys):
    rows = bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "2", "--repeats", "1",
                       "--seed-repeats", "1"])
    fast, slow = rows[2]
    # Two frames of a tiny streaming model against the seed's procedure on the example's 746k-parameter model
    # (two full passes over a growing sequence): the streaming rollout must be the faster one, in milliseconds (the
    # bound is loose: other tests' processes may share the cores; speed itself is the bench command's to report).
    assert 0 < fast < 100.0 and slow > 2 * fast, (fast, slow)
    out = capsys.readouterr().out
    assert f"speed-up {slow / fast:7.0f}x" in out, out


def test_bench_times_an_untrained_architecture(tiny_model_path, capsys):
    rows = bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "--repeats", "1",
                       "--filters", "8", "8", "--kernel-size", "3", "--parts"])
    assert rows[2][0] > 0 and rows[2][1] is None, rows
    out = capsys.readouterr().out
    assert "untrained {'filters': [8, 8], 'kernel_size': 3}" in out, out
    for part in ("neighbourhoods", "cell0 (8 filters, kernel 3)", "cell1 (8 filters, kernel 3)", "head", "whole step"):
        assert f"  {part} " in out, (part, out)


@pytest.mark.parametrize("motion", [0, 4])
def test_step_parts_cover_the_step(tiny_model_path, motion):
    from predictor import load_predictor
    from predictor.models import build_streaming_model

    model = load_predictor(tiny_model_path, cache=False).model
    model = build_streaming_model(model.config, motion_features=motion)
    times = bench.step_parts(model, steps=5, repeats=3)
    assert len(times) == 3 + len(model.cells) + bool(motion), times
    whole = times.pop("whole step")
    # Each part runs in its own loop, so the sum carries the loops' overhead; the whole step must still be of the
    # same order as its parts, not (say) a pruned no-op.
    assert all(t > 0 for t in times.values()) and 0.2 * sum(times.values()) < whole < 3 * sum(times.values()), (
        whole, times)


def test_train_bench_times_the_recipe_train_would_build(capsys):
    import keras

    from predictor.models import build_streaming_model
    from train import bench as train_bench

    # 4 context frames and 2 free-running ones: both kinds of step, in as few frames as trace quickly.
    result = train_bench.main(["--filters", "4", "4", "--motion-features", "4", "--ssim-weight", "0.1", "--floor",
                               "0.2", "--seq-len", "6", "--context", "4", "--batch-size", "2", "--warmup", "1",
                               "--steps", "2", "--precision", "mixed_bfloat16"])
    assert result["median"] > 0 and result["steps"] == 2 and result["min"] <= result["median"] <= result["max"]
    built = build_streaming_model(filters=(4, 4), motion_features=4)
    assert result["parameters"] == built.count_params()
    out = capsys.readouterr().out
    assert "streaming (motion features 4, free-running 1), batch 2, 6 frames, mixed_bfloat16:" in out, out
    assert keras.config.dtype_policy().name == "float32"  # the policy does not leak into what runs next
    with pytest.raises(SystemExit):
        train_bench.main(["--steps", "0"])
    assert "--steps >= 1" in capsys.readouterr().err


def test_breakdown_times_every_stage_of_a_rollout(tiny_model_path, capsys):
    """`--breakdown`: the split, the model's reads, the experts' reads (an untrained model is asked about every
    part), the rollouts and the whole predict, each with wall-clock and CPU seconds."""
    from predictor import load_predictor

    p = load_predictor(tiny_model_path, layers=2, experts=["copy-last"], cache=False)
    from predictor.moving_mnist import generate

    context = next(c for c in generate(16, 10, rng=0, split="val") if p.split(c) is not None)  # the split has work
    typical = bench.typical_context(p, 10)  # the median-time one of the same 16
    assert typical.shape == (10, 64, 64) and any((typical == c).all() for c in generate(16, 10, rng=0, split="val"))
    times = bench.rollout_breakdown(p, context, 3, repeats=2)
    assert list(times) == ["split", "model reads", "experts read", "roll out", "whole predict"]
    assert all(wall >= 0 and cpu >= 0 for wall, cpu in times.values()), times
    assert all(times[k][0] > 0 for k in ("split", "model reads", "experts read", "whole predict")), times
    bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "--repeats", "1", "--breakdown"])
    out = capsys.readouterr().out
    for stage in times:
        assert f"  {stage} " in out, (stage, out)
