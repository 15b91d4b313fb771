"""One seed for a whole run, and the state of every random generator a run draws from.

A training run draws randomness from NumPy's global generator and from the module-level
``generator`` (a ``numpy.random.Generator``) of each convzoo module that keeps one: weight
initialisation (``convzoo.nn.init``) and dropout masks, today. They are found by looking, not
by a list, so a module that adds a generator is covered without an edit here. Data order and
augmentation come from the DataLoader's own seed, which needs no saved state.
"""
import sys
import zlib

import numpy as np

from .. import nn  # noqa: F401  (loads the modules whose generators a run uses)


def _modules():
    """(name, module) of every loaded convzoo module with a module-level numpy Generator, by name."""
    for name, module in sorted(sys.modules.items()):
        if name.startswith("convzoo.") and isinstance(getattr(module, "generator", None), np.random.Generator):
            yield name, module


def manual_seed(seed):
    """Seed NumPy's global generator and every convzoo generator from one int (like ``torch.manual_seed``).

    Each generator gets its own stream, derived from the seed and the module's name.
    """
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; received {seed!r}")
    np.random.seed(int(seed) % 2**32)
    for name, module in _modules():
        module.generator = np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def get_rng_state():
    """The state of every generator, as JSON values and arrays (for a checkpoint)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"numpy": {"kind": kind, "keys": keys, "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached)}}
    for name, module in _modules():
        state[name] = module.generator.bit_generator.state
    return state


def set_rng_state(state):
    """Restore what ``get_rng_state`` returned."""
    g = state["numpy"]
    np.random.set_state((g["kind"], np.asarray(g["keys"], dtype=np.uint32), g["pos"], g["has_gauss"],
                         g["cached_gaussian"]))
    for name, module in _modules():
        if name in state:
            bit_generator = getattr(np.random, state[name]["bit_generator"])()
            bit_generator.state = state[name]
            module.generator = np.random.Generator(bit_generator)
