"""`python -m predictor.bench` runs both rollout procedures and reports their times."""

from predictor import bench


def test_bench_times_both_procedures(tiny_model_path, capsys):
    rows = bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "2", "--repeats", "1"])
    fast, slow = rows[2]
    # Two frames of a tiny streaming model against the seed's procedure on the example's 746k-parameter model
    # (two full passes over a growing sequence): the streaming rollout must be the faster one, in milliseconds.
    assert 0 < fast < 5.0 and slow > 2 * fast, (fast, slow)
    out = capsys.readouterr().out
    assert f"speed-up {slow / fast:7.0f}x" in out, out


def test_bench_times_an_untrained_architecture(tiny_model_path, capsys):
    rows = bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "--repeats", "1",
                       "--filters", "8", "8", "--kernel-size", "3"])
    assert rows[2][0] > 0 and rows[2][1] is None, rows
    out = capsys.readouterr().out
    assert "untrained {'filters': [8, 8], 'kernel_size': 3}" in out, out
