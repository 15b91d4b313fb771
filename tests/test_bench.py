"""The benchmark's quick mode runs every case end to end (no timing is asserted)."""
import json

from convzoo.benchmark import all_cases
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
