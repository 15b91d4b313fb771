"""The Numba threading layer convzoo picks (see kernels/jit.py for why)."""
import os
import subprocess
import sys

# ReLU of an array big enough to start a parallel region (smaller ones run serially)
SCRIPT = ("import numpy as np, numba, convzoo, convzoo.nn.functional as F; "
          "from convzoo.kernels.elementwise import STREAM_GRAIN; "
          "F.relu(convzoo.tensor(np.ones(STREAM_GRAIN, np.float32))); print(numba.threading_layer())")


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
