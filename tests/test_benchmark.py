"""The benchmark's own machinery. Its figures are not asserted here: speed lives in the benchmark's runs."""

from __future__ import annotations

from vsrife import benchmark


def test_the_glue_figure_reads_the_network_time_of_the_vspipe_process(tmp_path, official_weights):
    """The glue is vspipe's time against the network's time in the same process: every interpolation of the
    script's filter is timed there (the filter's warm-up, the frame computed before vspipe's clock starts,
    and the two interpolated frames among the six it outputs: four source frames at 2x, the last one held)."""
    log = tmp_path / "network.txt"
    seconds, outputs = benchmark.vspipe_seconds(
        benchmark.network_timer(log) + benchmark.our_script(None, 256, 144, 4, "3.9", quality="fast")
    )
    calls = [float(value) for value in log.read_text().split()]
    assert outputs == 6 and len(calls) == 4
    assert all(0 < call < 60 for call in calls) and seconds > 0


def test_the_steady_state_cancels_start_up():
    """Start-up (model loading, the first frames) is in both runs and drops out: 2 s of it, then 0.5 s per
    interpolated frame, in runs of 10 and 30 outputs at 2x (5 and 15 interpolated frames)."""
    short, long = (2.0 + 5 * 0.5, 10), (2.0 + 15 * 0.5, 30)
    assert benchmark.per_frame_difference(short, long, 2) == 0.5
    assert benchmark.per_frame_difference(short, long, 1) == 0.25  # per output frame: a plain clip's rate


def test_the_model_table_always_times_fp32_its_reference(monkeypatch, capsys, official_weights):
    """Its ratios and quality are against fp32, so fp32 is timed even when --paths leaves it out (a tiny
    frame size added for the test: the figures themselves are not asserted)."""
    monkeypatch.setitem(benchmark.SIZES, "144p", (256, 144))
    args = ["--models", "3.9", "--sizes", "144p", "--paths", "fast32", "--original-sizes", "--no-quality"]
    assert benchmark.main([*args, "--no-vspipe", "--repeat", "1", "--frames-per-run", "2"]) == 0
    header, row = capsys.readouterr().out.splitlines()[-2:]
    assert header.split()[2:4] == ["fp32", "s"] and "fast32" in header
    assert row.startswith("3.9") and row.endswith("MB")
