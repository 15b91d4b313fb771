"""Run the cases, time convzoo and PyTorch side by side, print the table and write JSON.

Per case, batch and mode every library runs the same work on the same inputs in this process with
the same thread count: ``warmup`` untimed calls, then the median of ``repeat`` timed calls; this is
done in ``rounds`` passes over all the cases, the libraries in a rotated order each pass, and each
library keeps its fastest pass's median (``run``; ``best_of_rounds`` times its rounds back to back,
for the planner audit). The ratio columns are torch_ms / convzoo_ms, so
above 1 means convzoo is faster. For the training steps, each library's peak memory is measured
too, in a child process of its own (``memory.py``).
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from ..viz.files import write_atomically
from . import cases, compare, memory, peaks, plans, training

STEADY_ALLOCATOR = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "100000000000"}
# Numba's default OpenMP layer spin-waits between parallel regions; on cores shared with other
# processes (and with BLAS's own threads) a region then often waits a whole scheduler slice (4 ms
# for a 0.4 ms gather). The workqueue layer sleeps instead. PyTorch keeps its defaults.
NUMBA_LAYER = {"NUMBA_THREADING_LAYER": "workqueue"}
LIBS = ("convzoo", "torch", "torch_cl")


def all_cases():
    return cases.CASES + training.CASES


# A function's first calls on this VM run slower for a while (a depthwise 3x3 at batch 1 took
# 1.4, 1.2, 1.1, 1.0, 0.9 ms before settling at 0.7, and PyTorch's calls drift the same way), so a
# fixed count of two warm-up calls timed whichever library came first in a row on a colder machine.
# Every library's function therefore warms up for at least MIN_SECONDS, and its timed calls run for
# at least MIN_SECONDS too (more calls for the median of a fast function), within these caps
MIN_SECONDS = 0.2
MAX_CALLS = 200


def median_ms(fn, warmup, repeat, min_seconds=0.0):
    """Median ms of at least ``repeat`` timed calls after at least ``warmup`` untimed ones; each phase
    also runs until ``min_seconds`` have passed (at most MAX_CALLS calls beyond the counts)."""
    start = time.perf_counter()
    calls = 0
    while calls < warmup or (time.perf_counter() - start < min_seconds and calls < warmup + MAX_CALLS):
        fn()
        calls += 1
    times = []
    while len(times) < repeat or (sum(times) < min_seconds and len(times) < repeat + MAX_CALLS):
        begin = time.perf_counter()
        fn()
        times.append(time.perf_counter() - begin)
    return 1e3 * statistics.median(times)


# On the shared VM of the README, a stretch of slow calls lasts about a second: with one round each,
# whichever library ran during it lost by up to 1.7x (3x3 64->64 @56 at batch 1: convzoo's median
# 2.45 ms in one full run, 1.44 ms at best of five rounds, with PyTorch at 1.55 and 1.51). Rounds in
# rotated order give every library the same chances of a quiet stretch; the best median keeps it.
# The VM also has slow spells of minutes (every row of several cases in a row, PyTorch's with them), so
# ``run`` spreads its rounds over the whole run: a pass over every case per round, a row's rounds minutes
# apart, rather than a row's rounds back to back
ROUNDS = 3


def best_of_rounds(fns, rounds, warmup, repeat, min_seconds=0.0):
    """{name: (best median ms, [median ms of each round])} for the functions {name: fn}: ``rounds``
    rounds, the functions in an order rotated by one each round, each timed by ``median_ms`` (its
    warm-up included, as another function ran in between)."""
    names = list(fns)
    medians = {name: [] for name in names}
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            medians[name].append(median_ms(fns[name], warmup, repeat, min_seconds))
    return {name: (min(ms), ms) for name, ms in medians.items()}


def _rate(case, work, mode, ms, peak):
    """(value, unit, % of peak) of one timing; peak: the measured {"gflops", "gbs"} (peaks.py)."""
    passes = 1 if mode == "fwd" else 3
    if case.bound == "bytes":
        moved = work["bytes"] if mode == "fwd" else work["bytes_fwdbwd"]
        gbs = moved / ms / 1e6
        return gbs, "GB/s", 100 * gbs / peak["gbs"]
    flops = work["flops"] * (passes if mode != "train" else 3)
    gflops = flops / ms / 1e6
    return gflops, "GFLOP/s", 100 * gflops / peak["gflops"]


def run(selected, quick, warmup, repeat, libs, peak=peaks.REFERENCE, log=print, min_seconds=0.0, rounds=1,
        remeasure=None):
    """The rows of the selected cases: ``rounds`` passes over all of them, each timing every row's
    libraries once (``median_ms``) in an order rotated by one each pass; a row keeps each library's fastest
    pass and is printed when the last pass has timed it. ``remeasure()``, if given, measures the machine's
    peaks again before each pass after the first, and ``peak`` (a dict, updated in place) keeps the best of
    each, as the rows keep their best pass: a peak measured in a slow spell made every % of the run too high
    (GEMM 107 GFLOP/s at the start of one run, 175-212 in the others)."""
    torch = None
    if any(lib != "convzoo" for lib in libs):
        try:
            import torch
            torch.set_num_threads(_threads())
        except ImportError:
            log("PyTorch is not installed: its columns stay empty")
            libs = ("convzoo",)
    medians, rows = {}, []
    for r in range(rounds):
        if rounds > 1:
            log(f"  pass {r + 1} of {rounds}" + (": rows print after the last" if r == 0 else ""))
        if r > 0 and remeasure is not None:
            peak.update({key: max(value, peak[key]) for key, value in remeasure().items() if key in peak})
        for case in all_cases():
            if selected and case.key not in selected:
                continue
            for batch in ((2,) if quick else case.batches):
                built = _build(case, batch, quick, libs, torch, log if r == 0 else (lambda _: None))
                if built is None:
                    continue
                work = built["convzoo"][2]
                for mode in (("train",) if built["convzoo"][0] is None else ("fwd", "fwdbwd")):
                    fns = {lib: (fwd if mode == "fwd" else fwdbwd) for lib, (fwd, fwdbwd, _) in built.items()}
                    names = list(fns)
                    timed = medians.setdefault((case.key, batch, mode), {})
                    for name in names[r % len(names):] + names[:r % len(names)]:
                        timed.setdefault(name, []).append(median_ms(fns[name], warmup, repeat, min_seconds))
                    if r == rounds - 1:
                        rows.append(_row(case, batch, mode, timed, work, peak, built, quick))
                        log(format_row(rows[-1]))
                        if "step_mib" in rows[-1]:
                            log(format_memory(rows[-1]))
                del built
    return rows


def _build(case, batch, quick, libs, torch, log):
    """{lib: (fwd, fwdbwd, work)} of one case and batch; None when convzoo has no such op."""
    built = {}
    for lib in libs:
        try:
            result = case.build(lib, batch, quick, torch)
        except Exception as error:  # a missing peer feature must not stop the run
            log(f"  {case.key} {lib}: skipped ({type(error).__name__}: {error})")
            result = None
        if result is not None:
            built[lib] = result
    if "convzoo" not in built:
        log(f"  {case.key}: skipped (convzoo has no such op yet)")
        return None
    return built


def _row(case, batch, mode, timed, work, peak, built, quick):
    """A result row from each library's medians, one per pass (``timed``: {lib: [ms]})."""
    row = {"case": case.key, "title": case.title, "batch": batch, "mode": mode,
           "ms": {lib: min(ms) for lib, ms in timed.items()}, "round_ms": timed}
    value, unit, pct = _rate(case, work, mode, row["ms"]["convzoo"], peak)
    row.update(rate=value, unit=unit, percent_of_peak=pct,
               ratio={lib: row["ms"][lib] / row["ms"]["convzoo"] for lib in row["ms"] if lib != "convzoo"})
    if mode == "train" and not quick and memory.supported():
        row["step_mib"] = _step_memory(case.key, batch, built)
    return row


def _step_memory(key, batch, built):
    """{lib: MiB} a training step adds at its peak, each library in its own child process."""
    return {lib: memory.measure(key, lib, batch, threads=_threads())["step_mib"] for lib in built}


def format_memory(row):
    mib = row["step_mib"]
    peers = ", ".join(f"{lib} {mib[lib]:.1f} MiB ({mib['convzoo'] / mib[lib]:.2f}x)" for lib in mib if lib != "convzoo")
    return f"     peak memory of one step above the model and batch: convzoo {mib['convzoo']:.1f} MiB; {peers}"


def _threads():
    import numba
    return numba.get_num_threads()


HEADER = (f"{'case':<5}{'what':<38}{'N':>3} {'mode':<7}{'convzoo ms':>11}{'rate':>16}{'%pk':>6}"
          f"{'torch ms':>10}{'ratio':>7}{'cl ms':>9}{'ratio':>7}")


def format_row(row):
    ms = row["ms"]
    torch_ms, cl_ms = ms.get("torch"), ms.get("torch_cl")
    fmt = lambda v: f"{v:.3g}" if v is not None else "-"  # noqa: E731
    ratio = lambda lib: f"{row['ratio'][lib]:.2f}" if lib in row["ratio"] else "-"  # noqa: E731
    return (f"{row['case']:<5}{row['title'][:37]:<38}{row['batch']:>3} {row['mode']:<7}{ms['convzoo']:>11.3g}"
            f"{row['rate']:>9.1f} {row['unit']:<7}{row['percent_of_peak']:>5.0f}%"
            f"{fmt(torch_ms):>10}{ratio('torch'):>7}{fmt(cl_ms):>9}{ratio('torch_cl'):>7}")


def summary(rows):
    """Geometric means of the ratios, per peer, and the worst case."""
    lines = []
    for lib, label in (("torch", "PyTorch NCHW"), ("torch_cl", "PyTorch channels_last")):
        ratios = [(r["ratio"][lib], r) for r in rows if lib in r["ratio"]]
        if not ratios:
            continue
        geo = compare.geometric_mean([v for v, _ in ratios])
        worst, row = min(ratios, key=lambda t: t[0])
        lines.append(f"vs {label}: geometric mean speed-up {geo:.2f}x over {len(ratios)} rows; slowest "
                     f"{worst:.2f}x ({row['case']} N={row['batch']} {row['mode']})")
    return lines


def markdown(rows):
    """The results as a Markdown table (the README's "Speed" table)."""
    lines = ["| case | what | N | pass | convzoo ms | rate | % peak | torch ms | speed-up | torch_cl ms | speed-up |",
             "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        ms = r["ms"]
        cells = [f"{ms[lib]:.3g}" if lib in ms else "-" for lib in ("torch", "torch_cl")]
        ratios = [f"{r['ratio'][lib]:.2f}x" if lib in r["ratio"] else "-" for lib in ("torch", "torch_cl")]
        lines.append(f"| {r['case']} | {r['title']} | {r['batch']} | {r['mode']} | {ms['convzoo']:.3g} | "
                     f"{r['rate']:.1f} {r['unit']} | {r['percent_of_peak']:.0f}% | {cells[0]} | {ratios[0]} | "
                     f"{cells[1]} | {ratios[1]} |")
    measured = [r for r in rows if "step_mib" in r]
    if measured:
        lines += ["", "| case | what | N | peak MiB of a step, convzoo | torch | convzoo / torch | torch_cl | "
                      "convzoo / torch_cl |", "|---|---|---:|---:|---:|---:|---:|---:|"]
        for r in measured:
            mib = r["step_mib"]
            cells = [f"{mib[lib]:.1f} | {mib['convzoo'] / mib[lib]:.2f}x" if lib in mib else "- | -"
                     for lib in ("torch", "torch_cl")]
            lines.append(f"| {r['case']} | {r['title']} | {r['batch']} | {mib['convzoo']:.1f} | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def environment():
    import numba
    import numpy
    info = {"python": platform.python_version(), "numpy": numpy.__version__, "numba": numba.__version__,
            "threads": _threads(), "machine": platform.machine(), "processor": platform.processor(),
            "cpu_count": os.cpu_count(), "steady_allocator": os.environ.get("MALLOC_MMAP_MAX_") == "0",
            "time": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "reference_peak_gflops": peaks.REFERENCE["gflops"], "reference_peak_gbs": peaks.REFERENCE["gbs"],
            "load_average": _load()}
    try:
        import torch
        info["torch"] = torch.__version__
    except ImportError:
        pass
    return info


def _layer():
    import numba
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run
        return None


def _load():
    """1-minute load average: above the thread count, other processes share the cores and timings drift."""
    try:
        return os.getloadavg()[0]
    except OSError:  # pragma: no cover - not on every platform
        return None


def build_parser(prog="python -m benchmarks"):
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    add_arguments(parser)
    return parser


def add_arguments(parser):
    parser.add_argument("--cases", help="comma-separated case keys (default: all), e.g. a,e1,i")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one timed call: a smoke test")
    parser.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls; the median is kept (default 5)")
    parser.add_argument("--rounds", type=int,
                        help=f"time every library this many times per row, in rotated order, and keep each "
                             f"one's fastest median (default {ROUNDS}; {plans.ROUNDS} with --plans)")
    parser.add_argument("--min-seconds", type=float,
                        help=f"warm up, and time, each function for at least this long, in up to {MAX_CALLS} "
                             f"more calls than --warmup / --repeat (default {MIN_SECONDS}, {plans.MIN_SECONDS} with "
                             f"--plans; 0: the counts only)")
    parser.add_argument("--no-torch", action="store_true", help="time convzoo only")
    parser.add_argument("--json", metavar="PATH", default="benchmark-results.json",
                        help="where to write the results (default benchmark-results.json; '-' for none)")
    parser.add_argument("--markdown", metavar="PATH", help="also write the table as Markdown to PATH")
    parser.add_argument("--compare", nargs=2, metavar=("OLD", "NEW"),
                        help="time nothing: compare two JSON files of earlier runs row by row (convzoo's and "
                             "PyTorch's change, and the speed-ups of each run)")
    parser.add_argument("--plans", action="store_true",
                        help="audit the planner instead: time every algorithm it could pick for each convolution "
                             "of the cases and the zoo models, and report how close its choices come to the "
                             "fastest (convzoo only; --json gets every timing)")
    parser.add_argument("--stock-allocator", action="store_true",
                        help="do not re-run with glibc keeping freed memory (MALLOC_MMAP_MAX_=0) and Numba's "
                             "workqueue threading layer (unless NUMBA_THREADING_LAYER is set)")


def main(args, reexec=None):
    """Run with parsed ``args``; ``reexec`` is the argv that restarts this command with the steady allocator."""
    if args.compare:
        return compare.main(*args.compare)
    if not args.stock_allocator and os.environ.get("MALLOC_MMAP_MAX_") != "0" and reexec:
        os.execve(sys.executable, [sys.executable] + reexec, {**NUMBA_LAYER, **os.environ, **STEADY_ALLOCATOR})
    known = {c.key for c in all_cases()}
    selected = None
    if args.cases:
        selected = {k.strip() for k in args.cases.split(",") if k.strip()}
        unknown = sorted(selected - known)
        if unknown:
            raise ValueError(f"--cases: unknown case(s) {unknown}; choose from {', '.join(sorted(known))}")
    if args.rounds is None:
        args.rounds = plans.ROUNDS if args.plans else ROUNDS
    if args.min_seconds is None:
        args.min_seconds = plans.MIN_SECONDS if args.plans else MIN_SECONDS
    for name in ("warmup", "repeat", "rounds"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            raise ValueError(f"--{name} must be {'>= 0' if name == 'warmup' else 'positive'}; "
                             f"received {getattr(args, name)}")
    if not args.min_seconds >= 0:
        raise ValueError(f"--min-seconds must be >= 0; received {args.min_seconds}")
    warmup, repeat, min_seconds, rounds = (0, 1, 0.0, 1) if args.quick else \
        (args.warmup, args.repeat, args.min_seconds, args.rounds)
    if args.plans:
        return _plans(args, warmup, repeat, min_seconds, rounds)
    libs = ("convzoo",) if args.no_torch else LIBS
    env = environment()
    peak = peaks.measure(args.quick)
    print(f"convzoo benchmark: {env['threads']} threads, steady allocator {env['steady_allocator']}, "
          f"median of >= {repeat} calls after >= {warmup} warm-up, each phase >= {min_seconds} s, best of "
          f"{rounds} rounds (passes over every case); "
          f"measured peaks (the % column; measured again before each pass, the best kept): float32 GEMM "
          f"{peak['gflops']:.0f} GFLOP/s, STREAM triad {peak['gbs']:.1f} GB/s")
    print(HEADER)
    env["min_seconds"], env["rounds"] = min_seconds, rounds
    rows = run(selected, args.quick, warmup, repeat, libs, peak, min_seconds=min_seconds, rounds=rounds,
               remeasure=lambda: peaks.measure(args.quick))
    env["peak_gflops"], env["peak_gbs"] = peak["gflops"], peak["gbs"]
    if rounds > 1:
        print(f"measured peaks, best of {rounds} passes: float32 GEMM {peak['gflops']:.0f} GFLOP/s, "
              f"STREAM triad {peak['gbs']:.1f} GB/s")
    for line in summary(rows):
        print(line)
    env["load_average_end"] = _load()
    env["numba_threading_layer"] = _layer()
    print(f"Numba threading layer {env['numba_threading_layer']}; load average {env['load_average']} at the "
          f"start, {env['load_average_end']} at the end "
          f"({env['threads']} threads; a load above that means shared cores and noisy timings)")
    if args.markdown:
        _write(args.markdown, markdown(rows) + "\n\n" + "\n".join(summary(rows)) + "\n")
    if args.json and args.json != "-":
        _write(args.json, json.dumps({"environment": env, "quick": args.quick, "rows": rows}, indent=1))
    return 0


def _write(path, text):
    """Write a result file atomically and say so."""
    write_atomically(path, lambda tmp: Path(tmp).write_text(text), force=True)
    print(f"wrote {path}")


def _plans(args, warmup, repeat, min_seconds, rounds):
    """``--plans``: the planner audit of ``plans.py``, printed and written as JSON."""
    if args.cases:
        raise ValueError("--plans audits every case and zoo model; it takes no --cases")
    if args.markdown:
        raise ValueError(f"--plans writes no Markdown table (received --markdown {args.markdown}); --json keeps "
                         f"its timings")
    env = environment()
    env["min_seconds"], env["rounds"] = min_seconds, rounds
    pairs = plans.geometries(args.quick)
    print(f"convzoo plan audit: {len(pairs)} (op, geometry) pairs, {env['threads']} threads; every candidate "
          f"the median of >= {repeat} calls after >= {warmup} warm-up, best of {rounds} rounds")

    def timer(fns):
        return {name: best for name, (best, _) in best_of_rounds(fns, rounds, warmup, repeat, min_seconds).items()}
    records = plans.audit(pairs, timer)
    for line in plans.summary(records):
        print(line)
    if args.json and args.json != "-":
        _write(args.json, json.dumps({"environment": env, "quick": args.quick, "plans": records}, indent=1))
    return 0


def cli(argv=None):
    """``python -m benchmarks``: bad arguments print one line and exit with status 2, as ``convzoo bench``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return main(args, reexec=["-m", "benchmarks"] + list(sys.argv[1:] if argv is None else argv))
    except (ValueError, OSError) as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
