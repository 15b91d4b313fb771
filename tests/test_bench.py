"""The benchmark's quick mode runs every case end to end (no timing is asserted)."""
import json

import numpy as np
import pytest

from convzoo.benchmark import all_cases, memory
from convzoo.benchmark.runner import format_memory, markdown
from convzoo.cli import main


def test_quick_benchmark_runs_every_case_and_writes_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--stock-allocator", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    rows = data["rows"]
    keys = {r["case"] for r in rows}
    assert keys == {c.key for c in all_cases()}, "a case was skipped"
    for row in rows:
        assert row["ms"]["convzoo"] > 0 and set(row["ratio"]) == {"torch", "torch_cl"}
        assert row["unit"] in ("GFLOP/s", "GB/s")
        assert row["mode"] in (("train",) if row["case"] in ("m1", "m2") else ("fwd", "fwdbwd"))
    assert "geometric mean speed-up" in text and data["environment"]["threads"] >= 1


def test_bench_rejects_unknown_cases(capsys):
    assert main(["bench", "--cases", "a,zz", "--stock-allocator", "--json", "-"]) == 2
    assert "unknown case(s) ['zz']" in capsys.readouterr().err


@pytest.mark.skipif(not memory.supported(), reason="needs Linux /proc/self/clear_refs")
def test_training_step_peak_memory_is_measured_in_a_child_process():
    # quick LeNet-5 at batch 64: the step's activations alone (6 x 28 x 28 x 64 float32 after the
    # first conv, ~1.2 MiB, and as much for its ReLU) must show up in the high-water mark
    result = memory.measure("m1", "convzoo", 64, steps=1, quick=True)
    assert result["peak_mib"] >= result["baseline_mib"] > 0
    assert 1.0 < result["step_mib"] < 200
    with pytest.raises(RuntimeError, match="failed"):
        memory.measure("m9", "convzoo", 2)


def test_markdown_adds_the_memory_table_for_training_rows():
    row = {"case": "m2", "title": "VGG", "batch": 32, "mode": "train", "ms": {"convzoo": 2.0, "torch": 4.0},
           "rate": 1.0, "unit": "GFLOP/s", "percent_of_peak": 1.0, "ratio": {"torch": 2.0},
           "step_mib": {"convzoo": 60.0, "torch": 40.0}}
    text = markdown([row])
    assert "| m2 | VGG | 32 | 60.0 | 40.0 | 1.50x | - | - |" in text
    assert "convzoo 60.0 MiB; torch 40.0 MiB (1.50x)" in format_memory(row)


def test_measured_peaks_are_positive_rates():
    from convzoo.benchmark import peaks

    measured = peaks.measure(quick=True)
    assert measured["gflops"] > 0.1 and measured["gbs"] > 0.1
    a, b, c = np.zeros(5, np.float32), np.arange(5, dtype=np.float32), np.ones(5, np.float32)
    peaks._triad(a, b, c, np.float32(0.5))
    np.testing.assert_array_equal(a, b + 0.5)


def test_median_ms_counts_calls_and_extends_them_to_the_minimum_time(monkeypatch):
    from convzoo.benchmark import runner
    clock = {"now": 0.0}
    monkeypatch.setattr(runner.time, "perf_counter", lambda: clock["now"])
    calls = []

    def fn():  # every call takes 10 ms of the fake clock
        calls.append(1)
        clock["now"] += 0.01

    assert runner.median_ms(fn, 2, 5) == pytest.approx(10.0) and len(calls) == 7
    calls.clear()
    # 0.095 s each phase: 10 warm-up calls, then 10 timed calls
    assert runner.median_ms(fn, 2, 5, min_seconds=0.095) == pytest.approx(10.0) and len(calls) == 20
    calls.clear()
    monkeypatch.setattr(runner, "MAX_CALLS", 3)
    runner.median_ms(fn, 2, 5, min_seconds=10.0)
    assert len(calls) == (2 + 3) + (5 + 3)


def test_bench_rejects_a_negative_minimum_time(capsys):
    assert main(["bench", "--min-seconds", "-1", "--stock-allocator", "--json", "-"]) == 2
    assert "--min-seconds must be >= 0; received -1.0" in capsys.readouterr().err


def test_best_of_rounds_rotates_the_order_and_keeps_each_functions_fastest_median(monkeypatch):
    from convzoo.benchmark import runner
    clock = {"now": 0.0}
    monkeypatch.setattr(runner.time, "perf_counter", lambda: clock["now"])
    order = []
    # "a" is slow in round 0 only (a noisy stretch), "b" in round 2 only
    cost = {"a": [0.03, 0.01, 0.01], "b": [0.02, 0.02, 0.05]}
    calls = {"a": 0, "b": 0}

    def make(name):
        def fn():
            round_ = calls[name] // 3  # median_ms(fn, 1, 2): three calls a round
            calls[name] += 1
            order.append(name)
            clock["now"] += cost[name][round_]
        return fn

    result = runner.best_of_rounds({"a": make("a"), "b": make("b")}, 3, 1, 2)
    assert result["a"] == (pytest.approx(10.0), [pytest.approx(30.0), pytest.approx(10.0), pytest.approx(10.0)])
    assert result["b"] == (pytest.approx(20.0), [pytest.approx(20.0), pytest.approx(20.0), pytest.approx(50.0)])
    # a b, then b a, then a b: each round's calls run together, the first name rotated
    assert "".join(order) == "aaabbb" + "bbbaaa" + "aaabbb"


def test_bench_rejects_zero_rounds(capsys):
    assert main(["bench", "--rounds", "0", "--stock-allocator", "--json", "-"]) == 2
    assert "--rounds must be positive; received 0" in capsys.readouterr().err


def _run_file(path, rows, **environment):
    path.write_text(json.dumps({"environment": environment, "quick": False, "rows": rows}))
    return str(path)


def _row(case, batch, mode, convzoo, torch=None, torch_cl=None):
    ms = {"convzoo": convzoo, **({"torch": torch} if torch else {}), **({"torch_cl": torch_cl} if torch_cl else {})}
    return {"case": case, "title": f"case {case}", "batch": batch, "mode": mode, "ms": ms}


def test_compare_matches_rows_and_separates_convzoo_from_the_machines_drift(tmp_path, capsys):
    old = _run_file(tmp_path / "old.json", [_row("a", 1, "fwd", 2.0, 4.0, 3.0), _row("a", 1, "fwdbwd", 8.0, 8.0),
                                            _row("k", 32, "fwd", 1.0, 1.0)],
                    threads=2, numba="0.1", peak_gflops=100.0, time="t0")
    new = _run_file(tmp_path / "new.json", [_row("a", 1, "fwd", 1.0, 4.0, 1.5), _row("a", 1, "fwdbwd", 16.0, 16.0),
                                            _row("b", 1, "fwd", 1.0)],
                    threads=2, numba="0.2", peak_gflops=50.0, time="t1")
    assert main(["bench", "--compare", old, new]) == 0
    lines = capsys.readouterr().out.splitlines()
    rows = {line.split()[0] + line.split()[4]: line for line in lines if line.startswith("a ")}
    # a fwd: convzoo 2 -> 1 ms (2x faster), PyTorch unchanged, speed-up over it 2 -> 4, over cl 1.5 -> 1.5
    assert "2 -> 1" in rows["afwd"] and "2.00x" in rows["afwd"] and "1.00x" in rows["afwd"]
    assert "2.00->4.00" in rows["afwd"] and "1.50->1.50" in rows["afwd"]
    # a fwdbwd: both twice as slow, the ratio holds (the machine drifted, not the code)
    assert "0.50x" in rows["afwdbwd"] and "1.00->1.00" in rows["afwdbwd"] and rows["afwdbwd"].endswith("-")
    text = "\n".join(lines)
    assert "geometric mean 1.00x over 2 rows" in text  # sqrt(2 * 0.5)
    assert "from 0.50x (a N=1 fwdbwd) to 2.00x (a N=1 fwd)" in text
    assert "PyTorch NCHW: its own times 0.71x" in text and "1.41x -> 2.00x over 2 rows" in text
    assert "PyTorch channels_last" in text and "1.50x -> 1.50x over 1 rows" in text
    assert "only in the old run: k N=32 fwd" in text and "only in the new run: b N=1 fwd" in text
    assert "runs of t0 -> t1; numba 0.1 -> 0.2, peak_gflops 100.0 -> 50.0" in text


def test_compare_of_runs_without_common_rows_says_so(tmp_path, capsys):
    old = _run_file(tmp_path / "old.json", [_row("a", 1, "fwd", 2.0)])
    new = _run_file(tmp_path / "new.json", [_row("a", 32, "fwd", 2.0)])
    assert main(["bench", "--compare", old, new]) == 0
    text = capsys.readouterr().out
    assert "no row in common" in text and "only in the old run: a N=1 fwd" in text


@pytest.mark.parametrize("content, message", [
    (None, "--compare OLD: no such file"),
    ("not json", "is not a benchmark JSON file"),
    ('{"rows": [{"case": "a"}]}', "has no benchmark rows"),
    ('{"rows": [{"case": "a", "batch": 1, "mode": "fwd", "ms": {"convzoo": -1}}]}', "has no benchmark rows"),
    ("[1, 2]", "has no benchmark rows"),
])
def test_compare_rejects_files_that_are_not_benchmark_results(tmp_path, capsys, content, message):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    good = _run_file(tmp_path / "good.json", [_row("a", 1, "fwd", 2.0)])
    assert main(["bench", "--compare", str(bad), good]) == 2
    err = capsys.readouterr().err
    assert message in err and str(bad) in err


def test_python_m_benchmarks_reports_bad_arguments_in_one_line(capsys):
    from convzoo.benchmark import cli
    assert cli(["--cases", "zz", "--stock-allocator", "--json", "-"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("python -m benchmarks: error: --cases: unknown case(s) ['zz']") and "Traceback" not in err


@pytest.mark.parametrize("lib", ["convzoo", "torch", "torch_cl"])
def test_forward_backward_reuses_one_all_ones_output_gradient_and_leaves_it_unchanged(lib, monkeypatch):
    # the seed is made once per build for every library (the timings leave out its fill); a library
    # that wrote into it would change the next call's work, and a fresh seed per call would be timed
    torch = pytest.importorskip("torch")
    from convzoo.benchmark import cases
    made = []
    real = cases._Seed.__call__

    def spy(self, output):
        array = real(self, output)
        made.append(array)
        return array

    monkeypatch.setattr(cases._Seed, "__call__", spy)
    case = {c.key: c for c in all_cases()}["k"]
    _, fwdbwd, _ = case.build(lib, 2, True, torch)
    for _ in range(3):
        fwdbwd()
    assert len(made) == 3 and all(a is made[0] for a in made)
    seed = made[0] if isinstance(made[0], np.ndarray) else made[0].numpy()
    assert seed.shape == (2, 4, 12, 12) and np.all(seed == 1)


def test_run_spreads_its_rounds_over_passes_of_every_case(monkeypatch):
    # a slow spell of the VM lasts minutes: a row's rounds are passes over all the cases, not back to back
    from convzoo.benchmark import runner
    calls = []

    class Fake:
        bound, batches = "flops", (1,)

        def __init__(self, key):
            self.key = self.title = key

        def build(self, lib, batch, quick, torch=None):
            def timed(mode):
                return lambda: calls.append((self.key, lib, mode))
            return timed("fwd"), timed("fwdbwd"), {"flops": 1.0}

    monkeypatch.setattr(runner, "all_cases", lambda: [Fake("x"), Fake("y")])
    peak, measured = {"gflops": 1.0, "gbs": 1.0}, []
    rows = runner.run(None, False, 0, 1, ("convzoo", "torch"), peak, log=lambda _: None, rounds=2,
                      remeasure=lambda: measured.append(1) or {"gflops": 2.0, "gbs": 0.5})
    # the peaks measured again before the second pass, the best of each kept (and used for the % column)
    assert measured == [1] and peak == {"gflops": 2.0, "gbs": 1.0}
    assert rows[0]["percent_of_peak"] == pytest.approx(100 * rows[0]["rate"] / 2.0)
    assert [(r["case"], r["mode"]) for r in rows] == [("x", "fwd"), ("x", "fwdbwd"), ("y", "fwd"), ("y", "fwdbwd")]
    assert all(len(r["round_ms"][lib]) == 2 for r in rows for lib in ("convzoo", "torch"))
    assert all(r["ms"]["torch"] == min(r["round_ms"]["torch"]) for r in rows)
    # every case in the first pass, then every case again, the libraries' order rotated in the second
    first = [("x", "convzoo", "fwd"), ("x", "torch", "fwd"), ("x", "convzoo", "fwdbwd"), ("x", "torch", "fwdbwd")]
    second = [("x", "torch", "fwd"), ("x", "convzoo", "fwd"), ("x", "torch", "fwdbwd"), ("x", "convzoo", "fwdbwd")]
    y = lambda seq: [("y",) + c[1:] for c in seq]  # noqa: E731
    assert calls == first + y(first) + second + y(second)
