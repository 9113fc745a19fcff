"""The benchmark's own machinery. Its figures are not asserted here: speed lives in the benchmark's runs."""

from __future__ import annotations

import time

import pytest

from vsrife import benchmark


def test_the_glue_figure_reads_the_network_time_of_the_vspipe_process(tmp_path, official_weights):
    """The glue is vspipe's time against the network's time in the same process: every interpolation of the
    script's filter is timed there (the filter's warm-up, the frame computed before vspipe's clock starts,
    and the two interpolated frames among the six it outputs: four source frames at 2x, the last one held),
    and every output frame is seen done, inside the run."""
    log = tmp_path / "network.txt"
    start = time.perf_counter()
    arrivals = benchmark.vspipe_arrivals(
        benchmark.network_timer(log) + benchmark.our_script(None, 256, 144, 4, "3.9", quality="fast")
    )
    calls = [float(value) for value in log.read_text().split()]
    assert len(arrivals) == 6 and len(calls) == 4
    assert all(0 < call < 60 for call in calls) and start < arrivals[0] and arrivals[-1] < time.perf_counter()


def test_a_frame_is_out_once_every_frame_before_it_is_done():
    assert benchmark.in_output_order({0: 1.0, 2: 1.5, 1: 3.0, 3: 3.5}) == [1.0, 3.0, 3.0, 3.5]


def test_a_failing_vspipe_run_says_why():
    with pytest.raises(RuntimeError, match=r"vspipe failed(.|\n)*undefined_clip. is not defined"):
        benchmark.vspipe_arrivals("out = undefined_clip\n")


def test_the_steady_state_leaves_out_start_up_and_warm_up():
    """After a start-up of 2 s, two warm-up pairs of 1.5 s each and then 0.5 s per interpolated frame (the
    source frames between them pass at once): the timed span reads 0.5 s, at 2x and for a plain clip."""
    span = benchmark.Span(warm_up=2, timed=3)
    assert span.source_frames == 8
    pairs = [1.5, 1.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # the pairs after the first one, computed before the clock starts
    arrivals, now = [], 2.0
    for seconds in pairs:  # out[2:]: a source frame, then the interpolated one after it
        arrivals += [now, now + seconds]
        now += seconds
    assert span.seconds_per_source_frame(arrivals, 2) == pytest.approx(0.5)
    plain = [2.0 + 1.5 * min(i, 2) + 0.5 * max(i - 2, 0) for i in range(span.source_frames - 2)]
    assert span.seconds_per_source_frame(plain, 1) == pytest.approx(0.5)
    assert span.timed_calls([9.0, 1.5, 1.5, 0.5, 0.5, 0.5, 0.7]) == [0.5, 0.5, 0.5]


def test_the_vspipe_span_must_fit_the_sample_clip(capsys):
    with pytest.raises(SystemExit):
        benchmark.main(["--vspipe-warm-up", "90", "--vspipe-frames", "20"])
    assert "at most 97" in capsys.readouterr().err


def test_the_model_table_always_times_fp32_its_reference(monkeypatch, capsys, official_weights):
    """Its ratios and quality are against fp32, so fp32 is timed even when --paths leaves it out (a tiny
    frame size added for the test: the figures themselves are not asserted)."""
    monkeypatch.setitem(benchmark.SIZES, "144p", (256, 144))
    args = ["--models", "3.9", "--sizes", "144p", "--paths", "fast32", "--original-sizes", "--no-quality"]
    assert benchmark.main([*args, "--no-vspipe", "--repeat", "1", "--frames-per-run", "2"]) == 0
    header, row = capsys.readouterr().out.splitlines()[-2:]
    assert header.split()[2:4] == ["fp32", "s"] and "fast32" in header
    assert row.startswith("3.9") and row.endswith("MB")
