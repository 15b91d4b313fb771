"""The kernels of a convolution layer as a grid of tiles."""
import numpy as np

from .canvas import as_array, figure, png_path, save_png


def plot_kernels(layer, path, *, max_filters=32, max_channels=8, size=None, force=False):
    """Draw a conv layer's kernels: one row per output filter, one column per input channel.

    Weights share one diverging colour scale centred on 0 (red positive, blue negative), so the tiles
    compare; a 1-D kernel is drawn as a 1-pixel-high strip, a 3-D kernel by its middle depth slice.

    Args:
        layer: a conv layer (its ``weight``), or a weight array ``(C_out, C_in/groups, *k)``.
        path: PNG file to write.
        max_filters, max_channels: draw at most this many filters (rows) and input channels (columns).
        size: (width, height) in pixels; default from the grid.
        force: replace an existing file.

    Returns:
        The Path written.
    """
    png_path(path, force)
    weight = as_array(getattr(layer, "weight", layer), "layer")
    if weight.ndim not in (3, 4, 5):
        raise ValueError(f"expected a conv layer or a weight of shape (C_out, C_in/groups, *k) with 1 to 3 kernel "
                         f"dims; received shape {weight.shape}")
    if weight.ndim == 3:
        weight = weight[:, :, None, :]
    elif weight.ndim == 5:
        weight = weight[:, :, weight.shape[2] // 2]
    for name, value in (("max_filters", max_filters), ("max_channels", max_channels)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive int; received {value!r}")
    shown = weight[:max_filters, :max_channels]
    rows, cols = shown.shape[:2]
    if size is None:
        size = (max(240, 60 * cols + 120), max(160, 60 * rows + 60))
    fig = figure(size)
    limit = float(np.abs(shown).max()) or 1.0
    axes = fig.subplots(rows, cols, squeeze=False)
    for o in range(rows):
        for c in range(cols):
            ax = axes[o, c]
            image = ax.imshow(shown[o, c], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if o == 0:
                ax.set_title(f"in {c}", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"out {o}", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8)
    more = "" if shown.shape[:2] == weight.shape[:2] else f" (first {rows} x {cols} of {weight.shape[0]} x {weight.shape[1]})"
    fig.suptitle(f"kernels {tuple(weight.shape[2:])}{more}", fontsize=9)
    return save_png(fig, path, force)
