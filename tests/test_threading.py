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
