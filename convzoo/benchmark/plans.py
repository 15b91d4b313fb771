"""Plan audit: how close the planner's cost-model choices come to the fastest algorithm, measured.

``python -m benchmarks --plans`` (or ``convzoo bench --plans``) collects every convolution the
benchmark cases and the zoo models run (forward, input gradient, weight gradient; the zoo at batch
1 and 32), times each algorithm the planner could run on it whose estimate is within
``CANDIDATE_SPREAD`` of the cheapest (the others would need the model to be that far off), and
reports for each (op, geometry) the cost model's choice against the fastest: the loss
``log(chosen ms / fastest ms)`` (0 when the model picked the fastest), summed over all pairs, and the
worst pairs. This is how ``kernels/cost.py`` was fitted on the README's machine; run it on another
machine to see how well the model ranks the algorithms there.

The timings go through the kernels' entry points (``kernels.conv``) with the algorithm forced, on
seeded random arrays of the recorded shapes (zero padding split evenly before and after, as a
symmetric ``padding=`` gives), each candidate in rotated order over ``rounds`` rounds, keeping its
best median (``runner.best_of_rounds``).
"""
import dataclasses
import math

import numpy as np

from ..kernels import conv as kconv
from ..kernels import planner
from . import cases, training

# candidates: supported algorithms estimated within this factor of the cheapest
CANDIDATE_SPREAD = 4.0
# defaults of --plans where the benchmark's own (3 rounds, 0.2 s a phase) would take half an hour
ROUNDS = 2
MIN_SECONDS = 0.02
WORST = 15  # pairs listed in the summary


def _record(fn, into):
    with planner.record() as log:
        fn()
    for _, plans in log:
        for op, plan in plans.items():
            if not isinstance(plan, Exception):
                into.setdefault((op, plan.geometry), None)


def geometries(quick=False):
    """[(op, ConvGeometry)] of the benchmark cases (their forward + backward) and, unless quick, of
    every zoo model's training step at batch 1 and 32, in first-seen order, each once."""
    from .. import models, tensor
    found = {}
    for case in cases.CASES + training.CASES:
        for batch in case.batches:
            _, fwdbwd, _ = case.build("convzoo", batch, quick, None)
            _record(fwdbwd, found)
    if not quick:
        rng = np.random.default_rng(0)
        for name, cls in models.MODELS.items():
            color = name in ("vgg", "mobilenet")
            model = cls(in_channels=3) if color else cls()
            for batch in (1, 32):
                x = rng.standard_normal((batch, 3 if color else 1, 28, 28)).astype(np.float32)

                def step():
                    model(tensor(x, requires_grad=True)).sum().backward()
                _record(step, found)
    return list(found)


def _pads(padded, inner):
    return tuple((-(-(p - n) // 2), (p - n) // 2) for p, n in zip(padded, inner))


def runner(op, g, rng):
    """A function ``algorithm name -> result`` running ``op`` of geometry ``g`` on seeded arrays."""
    dtype = np.float32 if g.itemsize == 4 else np.float64
    inner = g.inner or g.padded
    pads = _pads(g.padded, inner)
    weight = rng.standard_normal((g.out_channels, g.in_channels // g.groups) + g.kernel).astype(dtype)
    grad_out = rng.standard_normal((g.batch, g.out_channels) + g.out).astype(dtype)
    if op == "forward":
        x = rng.standard_normal((g.batch, g.in_channels) + inner).astype(dtype)
        return lambda name: kconv.conv_forward(x, weight, g.stride, g.dilation, g.groups, algorithm=name, pads=pads)
    if op == "backward_input":
        return lambda name: kconv.conv_backward_input(grad_out, weight, inner, g.stride, g.dilation, g.groups,
                                                      algorithm=name, pads=pads)
    x = rng.standard_normal((g.batch, g.in_channels) + g.padded).astype(dtype)
    return lambda name: kconv.conv_backward_weight(x, grad_out, g.kernel, g.stride, g.dilation, g.groups,
                                                   algorithm=name)


def audit(pairs, timer, spread=CANDIDATE_SPREAD):
    """One record per (op, geometry) with at least two candidates: the cost model's choice, the
    fastest, every candidate's measured and estimated ms and the loss log(chosen / fastest).
    ``timer({name: fn})`` returns {name: ms} (``runner.best_of_rounds`` in ``main``)."""
    rng = np.random.default_rng(0)
    records = []
    for op, g in pairs:
        plan = planner.plan(op, g)
        cheapest = min(plan.estimates.values())
        names = [n for n in sorted(plan.estimates, key=plan.estimates.get)
                 if plan.estimates[n] <= spread * cheapest and math.isfinite(plan.estimates[n])]
        if len(names) < 2:
            continue
        run = runner(op, g, rng)
        ms = timer({name: (lambda name=name: run(name)) for name in names})
        records.append(record(op, g, plan.algorithm, ms, {n: 1e3 * plan.estimates[n] for n in names}))
    return records


def record(op, g, chosen, ms, estimate_ms):
    fastest = min(ms, key=ms.get)
    return {"op": op, "geometry": g.describe(), "shape": dataclasses.asdict(g), "chosen": chosen,
            "fastest": fastest, "ms": ms, "estimate_ms": estimate_ms, "loss": math.log(ms[chosen] / ms[fastest])}


def summary(records, worst=WORST):
    """Lines: how often the model chose the fastest, the summed loss, how far its estimates run from
    the measured times, and the ``worst`` pairs by loss."""
    if not records:
        return ["plan audit: no convolution had two candidates"]
    n = len(records)
    hits = sum(r["chosen"] == r["fastest"] for r in records)
    near = sum(r["loss"] <= math.log(1.1) for r in records)
    ratios = sorted(r["estimate_ms"][a] / r["ms"][a] for r in records for a in r["ms"])
    lines = [f"plan audit: {n} (op, geometry) pairs with a choice; the cost model chose the fastest in {hits}, "
             f"within 10 % of it in {near}; summed log(chosen / fastest) {sum(r['loss'] for r in records):.2f}, "
             f"mean slowdown {math.exp(sum(r['loss'] for r in records) / n):.3f}x",
             f"estimate / measured time: median {ratios[len(ratios) // 2]:.2f}, 10th percentile "
             f"{ratios[len(ratios) // 10]:.2f}, 90th {ratios[(9 * len(ratios)) // 10]:.2f}"]
    bad = sorted((r for r in records if r["loss"] > 0), key=lambda r: -r["loss"])[:worst]
    if bad:
        lines.append(f"worst {len(bad)} (chosen -> fastest, measured ms):")
    for r in bad:
        times = ", ".join(f"{a} {v:.3g}" for a, v in sorted(r["ms"].items(), key=lambda item: item[1]))
        lines.append(f"  {math.exp(r['loss']):.2f}x  {r['op']:15} {r['geometry']}: {r['chosen']} -> {r['fastest']} "
                     f"({times})")
    return lines
