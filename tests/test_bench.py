"""`python -m predictor.bench` runs both rollout procedures and reports their times."""

from predictor import bench


def test_bench_times_both_procedures(tiny_model_path, capsys):
    rows = bench.main(["--model", tiny_model_path, "--horizons", "2", "--seed-horizons", "2", "--repeats", "1"])
    fast, slow = rows[2]
    assert fast > 0 and slow > 0
    assert "speed-up" in capsys.readouterr().out
