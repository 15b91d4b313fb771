"""Training curves: loss and accuracy per epoch, from a History, a metrics file or a checkpoint."""
import json
import math
from pathlib import Path

from .canvas import figure, png_path, save_png


def load_history(source):
    """Metric name -> per-epoch values, from any of the places a training history lives.

    Args:
        source: a ``History`` (``fit``'s result), a dict of metric lists, a dict with a ``history`` key
            (``convzoo train --metrics`` JSON, ``History.to_dict()``), or the path of such a JSON file
            or of a checkpoint (``.npz``).

    Returns:
        dict of metric name -> list of floats (None where an epoch has no value).
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"history file {path} does not exist")
        if path.suffix == ".npz":
            from ..train import read_checkpoint

            source = read_checkpoint(path).history or {}
        else:
            try:
                source = json.loads(path.read_text())
            except (json.JSONDecodeError, UnicodeDecodeError) as error:
                raise ValueError(f"{path} is not a JSON metrics file: {error}") from None
    history = getattr(source, "history", source)
    if isinstance(history, dict) and isinstance(history.get("history"), dict):
        history = history["history"]
    if not isinstance(history, dict) or not history or not all(isinstance(v, list) for v in history.values()):
        raise ValueError(f"expected a training history (metric name -> list of per-epoch values); received "
                         f"{type(source).__name__}")
    return history


def plot_curves(history, path, *, size=(800, 360), force=False):
    """Loss (and accuracy, when recorded) per epoch, training and validation side by side.

    Args:
        history: see ``load_history``.
        path: PNG file to write.
        size: (width, height) in pixels.
        force: replace an existing file.

    Returns:
        The Path written.
    """
    png_path(path, force)
    history = load_history(history)
    panels = [(metric, [k for k in (metric, f"val_{metric}") if _values(history, k)])
              for metric in ("loss", "accuracy")]
    panels = [(metric, keys) for metric, keys in panels if keys]
    if not panels:
        raise ValueError(f"the history has no loss or accuracy values; it has {sorted(history)}")
    from matplotlib.ticker import MaxNLocator

    fig = figure(size)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (metric, keys) in zip(axes, panels):
        for key in keys:
            epochs, values = zip(*_values(history, key))
            ax.plot(epochs, values, marker="o", label="validation" if key.startswith("val_") else "training")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_png(fig, path, force)


def _values(history, key):
    """(1-based epoch, value) pairs of a metric, skipping missing and non-finite values."""
    return [(i + 1, float(v)) for i, v in enumerate(history.get(key) or [])
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)]
