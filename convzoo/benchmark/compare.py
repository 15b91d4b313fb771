"""Compare two runs of the benchmark: ``python -m benchmarks --compare OLD.json NEW.json``.

Rows are matched by (case, batch, mode). For each library the change is old ms / new ms (above 1:
faster in the new run). On a shared VM the whole machine drifts between runs, so PyTorch's own
change is printed next to convzoo's: where both moved alike the machine moved, and the ratio columns
(torch ms / convzoo ms, measured back to back in one process in each run) are what tells a change
of convzoo's code apart from the drift.
"""
import json
import math
from pathlib import Path

PEERS = (("torch", "PyTorch NCHW"), ("torch_cl", "PyTorch channels_last"))


def load(path, argument="--compare"):
    """The results of one run: {"environment": {...}, "rows": [...]}, checked enough to compare."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ValueError(f"{argument}: no such file {str(path)!r}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{argument}: {str(path)!r} is not a benchmark JSON file ({error})") from None
    rows = data.get("rows") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not all(_row_ok(r) for r in rows):
        raise ValueError(f"{argument}: {str(path)!r} has no benchmark rows (a list of rows with case, batch, "
                         f"mode and convzoo ms, as `python -m benchmarks --json` writes)")
    env = data.get("environment")
    return {"environment": env if isinstance(env, dict) else {}, "rows": rows}


def _row_ok(row):
    if not isinstance(row, dict) or not all(k in row for k in ("case", "batch", "mode", "ms")):
        return False
    ms = row["ms"]
    return isinstance(ms, dict) and all(isinstance(v, (int, float)) and v > 0 for v in ms.values()) \
        and "convzoo" in ms


def _key(row):
    return row["case"], row["batch"], row["mode"]


def geometric_mean(values):
    """Of positive numbers; None for none."""
    return math.exp(sum(math.log(v) for v in values) / len(values)) if values else None


def _change(old, new, lib):
    if lib in old["ms"] and lib in new["ms"]:
        return old["ms"][lib] / new["ms"][lib]
    return None


def _ratio(row, lib):
    """torch ms / convzoo ms of one row (recomputed from ms: the JSON's ratio says the same)."""
    return row["ms"][lib] / row["ms"]["convzoo"] if lib in row["ms"] else None


HEADER = (f"{'case':<5}{'what':<30}{'N':>3} {'mode':<7}{'convzoo ms':>18}{'change':>8}{'torch change':>13}"
          f"{'vs torch':>14}{'vs torch_cl':>14}")


def _cell(old, new):
    return f"{old:.2f}->{new:.2f}" if old is not None and new is not None else "-"


def format_row(old, new):
    fmt = lambda v: f"{v:.2f}x" if v is not None else "-"  # noqa: E731
    ms = f"{old['ms']['convzoo']:.3g} -> {new['ms']['convzoo']:.3g}"
    return (f"{new['case']:<5}{str(new.get('title', ''))[:29]:<30}{new['batch']:>3} {new['mode']:<7}{ms:>18}"
            f"{fmt(_change(old, new, 'convzoo')):>8}{fmt(_change(old, new, 'torch')):>13}"
            f"{_cell(_ratio(old, 'torch'), _ratio(new, 'torch')):>14}"
            f"{_cell(_ratio(old, 'torch_cl'), _ratio(new, 'torch_cl')):>14}")


def compare(old, new):
    """The lines of the comparison of two loaded runs (``load``): a row per common row, then the
    geometric means over the common rows and what differs between the runs' environments."""
    old_rows = {_key(r): r for r in old["rows"]}
    pairs = [(old_rows[_key(r)], r) for r in new["rows"] if _key(r) in old_rows]
    lines = [HEADER] + [format_row(o, n) for o, n in pairs]
    if not pairs:
        lines = ["the two runs have no row in common (rows are matched by case, batch and pass)"]
    else:
        lines.append("")
        changes = [(_change(o, n, "convzoo"), n) for o, n in pairs]
        geo = geometric_mean([c for c, _ in changes])
        best, worst = max(changes, key=lambda t: t[0]), min(changes, key=lambda t: t[0])
        lines.append(f"convzoo, new run against old: geometric mean {geo:.2f}x over {len(pairs)} rows (above 1: "
                     f"faster), from {worst[0]:.2f}x ({_name(worst[1])}) to {best[0]:.2f}x ({_name(best[1])})")
        for lib, label in PEERS:
            moved = [c for c in (_change(o, n, lib) for o, n in pairs) if c is not None]
            both = [(_ratio(o, lib), _ratio(n, lib)) for o, n in pairs
                    if _ratio(o, lib) is not None and _ratio(n, lib) is not None]
            if not both:
                continue
            lines.append(f"{label}: its own times {geometric_mean(moved):.2f}x (the machine's drift between the runs); "
                         f"convzoo's speed-up over it {geometric_mean([a for a, _ in both]):.2f}x -> "
                         f"{geometric_mean([b for _, b in both]):.2f}x over {len(both)} rows")
    new_keys = {_key(r) for r in new["rows"]}
    only_old = [r for r in old["rows"] if _key(r) not in new_keys]
    only_new = [r for r in new["rows"] if _key(r) not in old_rows]
    for rows, where in ((only_old, "old"), (only_new, "new")):
        if rows:
            lines.append(f"only in the {where} run: " + ", ".join(_name(r) for r in rows))
    lines += _environment(old["environment"], new["environment"])
    return lines


def _name(row):
    return f"{row['case']} N={row['batch']} {row['mode']}"


_ENVIRONMENT = ("threads", "numpy", "numba", "torch", "python", "processor", "cpu_count", "steady_allocator",
                "numba_threading_layer", "peak_gflops", "peak_gbs")


def _environment(old, new):
    differ = []
    for name in _ENVIRONMENT:
        a, b = old.get(name), new.get(name)
        if a != b:
            if isinstance(a, float) and isinstance(b, float):
                differ.append(f"{name} {a:.1f} -> {b:.1f}")
            else:
                differ.append(f"{name} {a} -> {b}")
    times = f"{old.get('time', '?')} -> {new.get('time', '?')}"
    return [f"runs of {times}" + ("; " + ", ".join(differ) if differ else "; same versions and threads")]


def main(old_path, new_path, log=print):
    old, new = load(old_path, "--compare OLD"), load(new_path, "--compare NEW")
    for line in compare(old, new):
        log(line)
    return 0
