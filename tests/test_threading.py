"""The Numba threading layer convzoo picks (see kernels/jit.py for why)."""
import os
import subprocess
import sys

# ReLU of an array big enough to start a parallel region (smaller ones run serially)
SCRIPT = ("import numpy as np, numba, convzoo, convzoo.nn.functional as F; "
          "from convzoo.kernels.elementwise import STREAM_GRAIN; "
          "from convzoo.kernels.elementwise import stream_grain; "
          "F.relu(convzoo.tensor(np.ones(STREAM_GRAIN, np.float32))); "
          "print(numba.threading_layer(), 'STREAM_GRAIN' if stream_grain() == STREAM_GRAIN else 'GRAIN')")


def _layer(env):
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _omp_available():
    try:
        import numba.np.ufunc.omppool  # noqa: F401
    except ImportError:
        return False
    return True


def test_openmp_by_default_and_the_user_can_override():
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_THREADING_LAYER", "NUMBA_DISABLE_JIT")}
    layer, grain = _layer(env).split()
    assert layer == ("omp" if _omp_available() else "tbb" if layer == "tbb" else "workqueue")
    assert grain == ("STREAM_GRAIN" if layer == "workqueue" else "GRAIN")
    layer, grain = _layer(dict(env, NUMBA_THREADING_LAYER="workqueue")).split()
    # workqueue's threads sleep between regions: streaming kernels stay serial up to STREAM_GRAIN
    assert layer == "workqueue" and grain == "STREAM_GRAIN"
