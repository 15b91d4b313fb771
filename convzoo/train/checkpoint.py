"""Checkpoints: one ``.npz`` file written atomically and read back without pickle.

The file holds the model's state_dict (one array per key, PyTorch's names) and a JSON document
(``meta.json``) with the architecture name and config, the epoch, the training history and the
optimizer, scheduler and RNG states. Arrays inside those states are stored as separate entries
and referenced from the JSON as ``{"__array__": "<entry>"}``. ``numpy.load`` runs with
``allow_pickle=False``, so loading a file cannot execute code.
"""
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ..models import get_model

FORMAT = "convzoo-checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint is missing, corrupt, truncated, or for another model; the message says which."""


def _pack(tree, arrays, prefix):
    """Replace every ndarray in a tree of dicts/lists by a reference; collect the arrays."""
    if isinstance(tree, np.ndarray):
        arrays[prefix] = tree
        return {"__array__": prefix}
    if isinstance(tree, dict):
        return {"__dict__": [[_pack(k, arrays, f"{prefix}.k{i}"), _pack(v, arrays, f"{prefix}.{i}")]
                             for i, (k, v) in enumerate(tree.items())]}
    if isinstance(tree, (list, tuple)):
        packed = [_pack(v, arrays, f"{prefix}.{i}") for i, v in enumerate(tree)]
        return {"__tuple__": packed} if isinstance(tree, tuple) else packed
    if isinstance(tree, np.generic):
        return tree.item()
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    raise TypeError(f"cannot store a {type(tree).__name__} in a checkpoint ({prefix})")


def _unpack(tree, arrays):
    if isinstance(tree, list):
        return [_unpack(v, arrays) for v in tree]
    if isinstance(tree, dict):
        if "__array__" in tree:
            return arrays[tree["__array__"]]
        if "__tuple__" in tree:
            return tuple(_unpack(v, arrays) for v in tree["__tuple__"])
        return {_unpack(k, arrays): _unpack(v, arrays) for k, v in tree["__dict__"]}
    return tree


def save_checkpoint(path, model, architecture, optimizer=None, scheduler=None, epoch=0, history=None,
                    rng_state=None, extra=None):
    """Write a checkpoint atomically: a temporary file in the same directory, fsync, then rename.

    A crash at any moment leaves either the previous file or the complete new one, never a
    partial file under ``path``.

    Args:
        path: the ``.npz`` file to write.
        model: the Module whose state_dict is saved.
        architecture: ``{"name": registry name, "config": JSON-able constructor arguments}``.
        optimizer: an Optimizer whose state_dict is saved, or None.
        scheduler: an LRScheduler whose state_dict is saved, or None.
        epoch: the number of completed epochs.
        history: JSON-able record of the run (per-epoch metrics).
        rng_state: state of the random generators the run uses (a tree of JSON values and arrays).
        extra: any other JSON-able information (dataset, preprocessing, class names).
    """
    path = Path(path)
    arrays = {}
    state = model.state_dict()
    meta = {
        "format": FORMAT, "version": VERSION, "architecture": architecture, "epoch": int(epoch),
        "model_keys": list(state),
        "optimizer": None if optimizer is None else {"class": type(optimizer).__name__,
                                                     "state": _pack(optimizer.state_dict(), arrays, "optimizer")},
        "scheduler": None if scheduler is None else {"class": type(scheduler).__name__,
                                                     "state": _pack(scheduler.state_dict(), arrays, "scheduler")},
        "rng": _pack(rng_state, arrays, "rng"),
        "history": _pack(history, arrays, "history"),
        "extra": _pack(extra or {}, arrays, "extra"),
    }
    entries = {f"model/{k}": v for k, v in state.items()}
    entries.update({f"state/{k}": v for k, v in arrays.items()})
    entries["meta.json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **entries)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


class Checkpoint:
    """The contents of a checkpoint file, fully read and checked (``read_checkpoint`` makes one).

    Attributes:
        path, architecture (dict with "name" and "config"), epoch, model_state (name -> ndarray),
        optimizer (dict with "class" and "state", or None), scheduler (likewise), rng, history, extra.
    """

    def __init__(self, path, meta, model_state, arrays):
        self.path = path
        self.architecture = meta["architecture"]
        self.epoch = meta["epoch"]
        self.model_state = model_state
        self.optimizer = self._section(meta["optimizer"], arrays)
        self.scheduler = self._section(meta["scheduler"], arrays)
        self.rng = _unpack(meta["rng"], arrays)
        self.history = _unpack(meta["history"], arrays)
        self.extra = _unpack(meta["extra"], arrays)

    @staticmethod
    def _section(section, arrays):
        return None if section is None else {"class": section["class"], "state": _unpack(section["state"], arrays)}

    def check_model(self, model, name=None):
        """Raise CheckpointError naming every mismatched key unless model can take this state."""
        if name is not None and name != self.architecture.get("name"):
            raise CheckpointError(f"{self.path} is a checkpoint of architecture {self.architecture.get('name')!r}, "
                                  f"not {name!r}")
        own = model.state_dict()
        missing = [k for k in own if k not in self.model_state]
        unexpected = [k for k in self.model_state if k not in own]
        shapes = [f"{k}: model {own[k].shape}, checkpoint {self.model_state[k].shape}" for k in own
                  if k in self.model_state and own[k].shape != self.model_state[k].shape]
        if missing or unexpected or shapes:
            raise CheckpointError(
                f"{self.path} (architecture {self.architecture.get('name')!r}) does not fit {type(model).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}, mismatched shapes {shapes}")

    def restore(self, model, optimizer=None, scheduler=None):
        """Load model, optimizer and scheduler state: all of it, or (on any error) none of it."""
        self.check_model(model)
        for part, obj in (("optimizer", optimizer), ("scheduler", scheduler)):
            saved = getattr(self, part)
            if obj is not None and (saved is None or saved["class"] != type(obj).__name__):
                raise CheckpointError(f"{self.path} holds {part} state for "
                                      f"{None if saved is None else saved['class']}, not {type(obj).__name__}")
        before = [(obj, obj.state_dict()) for obj in (model, optimizer, scheduler) if obj is not None]
        try:
            model.load_state_dict(self.model_state)
            if optimizer is not None:
                optimizer.load_state_dict(self.optimizer["state"])
            if scheduler is not None:
                scheduler.load_state_dict(self.scheduler["state"])
        except (KeyError, ValueError, TypeError) as error:
            for obj, state in before:
                obj.load_state_dict(state)
            raise CheckpointError(f"{self.path} could not be restored, nothing was changed: {error}") from None


def read_checkpoint(path):
    """Read and check a whole checkpoint file; raise CheckpointError (naming the file) if it is bad."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # reading every entry makes zipfile check each CRC, so corruption shows up here
            entries = {name: npz[name] for name in npz.files}
        meta = json.loads(entries.pop("meta.json").tobytes().decode())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, KeyError, UnicodeDecodeError) as error:
        raise CheckpointError(f"{path} is not a readable convzoo checkpoint (truncated or corrupt: {error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a convzoo checkpoint (no {FORMAT!r} header)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {meta.get('version')}; this convzoo reads {VERSION}")
    model_state = {k: entries[f"model/{k}"] for k in meta["model_keys"] if f"model/{k}" in entries}
    lost = [k for k in meta["model_keys"] if k not in model_state]
    if lost:
        raise CheckpointError(f"{path} is incomplete: model entries {lost} are missing")
    arrays = {k[len("state/"):]: v for k, v in entries.items() if k.startswith("state/")}
    try:
        return Checkpoint(path, meta, model_state, arrays)
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} has a damaged header ({error!r})") from None


def load_model(path):
    """Rebuild the registered model a checkpoint was saved from, with its weights, in eval mode.

    Returns:
        (model, checkpoint): the Module and the ``Checkpoint`` (for its extra information).
    """
    checkpoint = read_checkpoint(path)
    name, config = checkpoint.architecture.get("name"), checkpoint.architecture.get("config", {})
    try:
        model = get_model(name, **config)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} holds architecture {name!r} that this convzoo cannot build: {error}") from None
    checkpoint.restore(model)
    return model.eval(), checkpoint
