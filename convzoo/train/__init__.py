"""Training: ``fit``/``evaluate`` with a progress bar, validation, atomic checkpoints and exact resume."""
from .checkpoint import Checkpoint, CheckpointError, load_model, read_checkpoint, save_checkpoint
from .loop import History, evaluate, fit
from .progress import ProgressBar
from .seeding import get_rng_state, manual_seed, set_rng_state

__all__ = ["Checkpoint", "CheckpointError", "History", "ProgressBar", "evaluate", "fit", "get_rng_state",
           "load_model", "manual_seed", "read_checkpoint", "save_checkpoint", "set_rng_state"]
