"""One seed for a whole run, and the state of every random generator a run draws from.

A training run draws randomness from NumPy's global generator and from the module-level
``generator`` of convzoo's modules that keep one (weight initialisation, dropout masks). Data
order and augmentation come from the DataLoader's own seed, which needs no saved state.
"""
import importlib

import numpy as np

# modules with a module-level ``generator`` (a numpy.random.Generator) and a ``seed(value)`` function
GENERATOR_MODULES = ("convzoo.nn.init", "convzoo.nn.functional.dropout")


def _modules():
    for name in GENERATOR_MODULES:
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if isinstance(getattr(module, "generator", None), np.random.Generator):
            yield name, module


def manual_seed(seed):
    """Seed NumPy's global generator and every convzoo generator from one int (like ``torch.manual_seed``)."""
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed must be a non-negative int; received {seed!r}")
    np.random.seed(int(seed) % 2**32)
    for offset, (name, module) in enumerate(_modules(), start=1):
        module.generator = np.random.default_rng([int(seed), offset])


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
