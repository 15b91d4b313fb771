"""Peak memory of the training-step cases: how much a step adds on top of the model and its batch.

Each library runs in a fresh child process (``python -m convzoo.benchmark.memory CASE LIB BATCH``),
so neither inherits the other's freed-but-kept heap. In it: build the model and batch, run one
step untimed (Numba loads its compiled kernels, PyTorch warms up), then reset the kernel's
high-water mark of the resident set (``/proc/self/clear_refs``), read the resident set, run the
measured steps and read the high-water mark again. Their difference is the step's peak working set:
activations, gradients, scratch. glibc is told to serve every allocation over 64 KiB with its own
mmap (``MALLOC_MMAP_THRESHOLD_``), so freed arrays leave the resident set at once for both
libraries, instead of staying in a heap the next step would silently reuse. Linux only.
"""
import json
import os
import subprocess
import sys

ALLOCATOR = {"MALLOC_MMAP_THRESHOLD_": "65536"}


def _status_kib():
    values = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0])
    return values


def supported():
    """Whether this system can reset and read the resident-set high-water mark."""
    return sys.platform.startswith("linux") and os.path.exists("/proc/self/clear_refs")


def measure_here(key, lib, batch, steps=2, quick=False):
    """Run case ``key`` for ``lib`` in this process; {"baseline_mib", "peak_mib", "step_mib"}."""
    from . import training

    case = next((c for c in training.CASES if c.key == key), None)
    if case is None:
        raise ValueError(f"case must be one of {', '.join(c.key for c in training.CASES)}; received {key!r}")
    torch = None
    if lib != "convzoo":
        import torch
    _, step, _ = case.build(lib, batch, quick, torch)
    step()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # resets VmHWM to the current resident set
    before = _status_kib()["VmRSS"]
    for _ in range(steps):
        step()
    peak = _status_kib()["VmHWM"]
    return {"baseline_mib": before / 1024, "peak_mib": peak / 1024, "step_mib": (peak - before) / 1024}


def measure(key, lib, batch, steps=2, quick=False, threads=None):
    """``measure_here`` in a fresh child process with the mmap-always allocator; returns its dict."""
    env = {**os.environ, **ALLOCATOR}
    for name in ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_"):  # the timing runs' steady allocator
        env.pop(name, None)
    if threads is not None:
        env["NUMBA_NUM_THREADS"] = str(threads)
    argv = [sys.executable, "-m", "convzoo.benchmark.memory", key, lib, str(batch), str(steps)]
    if quick:
        argv.append("--quick")
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"memory measurement of {key} {lib} failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv):
    quick = "--quick" in argv
    key, lib, batch, steps = [a for a in argv if a != "--quick"]
    print(json.dumps(measure_here(key, lib, int(batch), int(steps), quick)))


if __name__ == "__main__":
    main(sys.argv[1:])
