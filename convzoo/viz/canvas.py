"""matplotlib, imported only when a picture is drawn, on its Agg canvas (no display, no global backend)."""
from pathlib import Path

import numpy as np

from .files import write_atomically

DPI = 100


def _matplotlib():
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError("convzoo.viz draws with matplotlib, which is not installed; "
                          "install it with: pip install 'convzoo[plot]'") from None
    return Figure, FigureCanvasAgg


def figure(size):
    """A Figure of exactly ``size = (width, height)`` pixels on an Agg canvas."""
    width, height = size
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 32 for v in size):
        raise ValueError(f"size must be (width, height) in pixels, each an int >= 32; received {size!r}")
    Figure, FigureCanvasAgg = _matplotlib()
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def png_path(path, force=False):
    """Check a PNG destination before drawing: .png suffix, existing directory, no clobbering."""
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"path must end in .png; received {str(path)!r}")
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; pass force=True (--force) to replace it")
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output directory {path.parent} does not exist")
    return path


def save_png(fig, path, force=False):
    """Write the figure as a PNG of its exact pixel size, atomically; returns the Path."""
    return write_atomically(png_path(path, force), lambda temporary: fig.savefig(temporary, format="png", dpi=DPI),
                            force)


def grid_shape(count, columns=None):
    """(rows, columns) of a near-square grid for count tiles."""
    columns = columns or int(np.ceil(np.sqrt(count)))
    return int(np.ceil(count / columns)), columns


def as_array(value, name):
    """A Tensor or array-like as a float64 ndarray."""
    data = getattr(value, "data", value) if not isinstance(value, np.ndarray) else value
    try:
        return np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be an array or a Tensor; received {type(value).__name__}") from None


def show_image(ax, image, title=None, cmap="gray", **kwargs):
    """An (H, W) or (H, W, 3/4) image without axes; integer images keep their 0..255 scale."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] in (3, 4):
        if image.dtype.kind != "u":
            lo, hi = float(image.min()), float(image.max())
            image = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image, dtype=np.float64)
        ax.imshow(image, **kwargs)
    else:
        image = image.reshape(image.shape[:2]) if image.ndim == 3 else image
        extra = {"vmin": 0, "vmax": 255} if image.dtype == np.uint8 and "vmin" not in kwargs else {}
        ax.imshow(image, cmap=cmap, **{**extra, **kwargs})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8)
