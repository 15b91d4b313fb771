"""The Numba threading layer convzoo picks (see kernels/jit.py for why)."""
import os
import subprocess
import sys

# a 1-D conv of one signal, the one im2col call that runs as a single chunk, its gather a Numba
# parallel region (the range loops of ReLU, pooling and depthwise convs run on lanes instead)
SCRIPT = ("import numpy as np, numba, convzoo, convzoo.nn.functional as F; "
          "F.conv1d(convzoo.tensor(np.ones((1, 64, 4096), np.float32)), np.ones((64, 64, 5), np.float32), "
          "algorithm='im2col'); print(numba.threading_layer())")


def _layer(env):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_workqueue_by_default_and_the_user_can_override():
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "NUMBA_DISABLE_JIT")}
    assert _layer(env) == "workqueue"
    assert _layer(dict(env, NUMBA_THREADING_LAYER="omp")) == "omp"


def test_grad_mode_forced_algorithm_autotune_and_workspace_are_per_thread():
    # each is thread-local: a thread that never set one sees the default, whatever another set
    import threading

    import convzoo
    from convzoo.autograd.function import is_grad_enabled
    from convzoo.kernels import planner, workspace

    seen = {}

    def other():
        seen.update(grad=is_grad_enabled(), forced=planner.forced(), autotune=planner.autotune_enabled(),
                    record=planner.recording(), limit=workspace.limit())

    with convzoo.no_grad(), convzoo.use_algorithm("im2col"), convzoo.autotune(), planner.record(), \
            workspace.limited(1 << 16):
        assert not is_grad_enabled() and planner.forced() == "im2col" and planner.autotune_enabled()
        assert planner.recording() == [] and workspace.limit() == 1 << 16
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert seen == dict(grad=True, forced=None, autotune=False, record=None, limit=workspace.DEFAULT_LIMIT)
    assert is_grad_enabled() and planner.forced() is None and not planner.autotune_enabled()
    assert planner.recording() is None and workspace.limit() == workspace.DEFAULT_LIMIT


# Three Python threads each run kernels big enough to use both cores (ReLU, depthwise conv, max
# pooling: their range loops on lanes), a GEMM conv on lanes, and their gradients; the workqueue
# layer aborts the process on concurrent launches of parallel regions unless they take turns
CONCURRENT = """
import threading, numpy as np, convzoo, convzoo.nn.functional as F
from convzoo.kernels.elementwise import STREAM_GRAIN
rng = np.random.default_rng(0)
x = rng.standard_normal(2 * STREAM_GRAIN).astype(np.float32)
xd = rng.standard_normal((16, 128, 56, 56)).astype(np.float32)
wd = rng.standard_normal((128, 1, 3, 3)).astype(np.float32)
want = F.max_pool2d(F.conv2d(xd, wd, padding=1, groups=128), 2).data
xg = rng.standard_normal((8, 16, 32, 32)).astype(np.float32)
wg = rng.standard_normal((16, 16, 3, 3)).astype(np.float32)
want_dense = F.conv2d(xg, wg, padding=1).data
errors = []
def work():
    try:
        for _ in range(6):
            assert (F.relu(x).data >= 0).all()
            t = convzoo.tensor(xd, requires_grad=True)
            y = F.max_pool2d(F.conv2d(t, wd, padding=1, groups=128), 2)
            assert np.array_equal(y.data, want)
            y.sum().backward()
            t = convzoo.tensor(xg, requires_grad=True)  # a GEMM conv: its chunks run on lanes
            y = F.conv2d(t, wg, padding=1)
            assert np.array_equal(y.data, want_dense)
            y.sum().backward()
    except Exception as error:
        errors.append(repr(error))
threads = [threading.Thread(target=work) for _ in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(errors)
"""


def test_parallel_kernels_from_several_python_threads_take_turns():
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "NUMBA_DISABLE_JIT")}
    result = subprocess.run([sys.executable, "-c", CONCURRENT], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[]"


def test_num_threads_follows_numba_set_num_threads_in_each_thread():
    # jit.num_threads reads Numba's per-thread count the fast way; it must see set_num_threads as
    # numba.get_num_threads does, in the thread that set it and in no other
    import threading

    import numba

    from convzoo.kernels.jit import num_threads
    assert num_threads() == numba.get_num_threads()
    seen = {}

    def worker():
        numba.set_num_threads(1)
        seen["worker"] = (num_threads(), numba.get_num_threads())

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert seen["worker"] == (1, 1)
    assert num_threads() == numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS
