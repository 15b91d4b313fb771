"""Feature maps: what chosen layers make of one input image."""
import numpy as np

from ..autograd import Tensor
from ..nn.summary import record_layers
from .canvas import as_array, figure, png_path, save_png, show_image


def model_input(model, image):
    """An image (H, W), (C, H, W) or (1, C, H, W) as a batch-of-one Tensor in the model's dtype."""
    x = as_array(image, "image")
    if x.ndim == 2:
        x = x[None]
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"image must be (H, W), (C, H, W) or (1, C, H, W); received shape {np.shape(image)}")
    dtype = next((p.dtype for p in model.parameters()), np.float32)
    return Tensor(x.astype(dtype))


def spatial_records(model, x):
    """The recorded layer calls whose output still has 2 spatial axes (N, C, H, W)."""
    return [r for r in record_layers(model, x) if r[3].ndim == 4]


def pick_layers(records, layers):
    """Records of the named layers (dotted names), or of every conv layer when layers is None."""
    names = [name for name, *_ in records]
    if layers is None:
        chosen = [r for r in records if hasattr(r[1], "kernel_size") and r[1]._parameters.get("weight") is not None]
        return chosen or records
    if isinstance(layers, str):
        layers = [layers]
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"unknown layer(s) {unknown}; layers with 2-D feature maps: {', '.join(names)}")
    return [next(r for r in records if r[0] == n) for n in layers]


def plot_feature_maps(model, image, path, *, layers=None, max_maps=8, size=None, force=False):
    """Draw the input and, per chosen layer, its first ``max_maps`` feature maps.

    Args:
        model: a Module taking (N, C, H, W).
        image: the input, (H, W), (C, H, W) or (1, C, H, W) (normalised as the model expects).
        path: PNG file to write.
        layers: dotted layer names (see ``model.summary``); default: every convolution.
        max_maps: channels drawn per layer.
        size: (width, height) in pixels; default from the grid.
        force: replace an existing file.

    Returns:
        The Path written.
    """
    png_path(path, force)
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"max_maps must be a positive int; received {max_maps!r}")
    x = model_input(model, image)
    chosen = pick_layers(spatial_records(model, x), layers)
    rows, cols = len(chosen), 1 + max_maps
    if size is None:
        size = (max(320, 90 * cols), max(160, 100 * rows + 40))
    fig = figure(size)
    axes = fig.subplots(rows, cols, squeeze=False)
    picture = x.numpy()[0]
    for row, (name, module, _, out) in enumerate(chosen):
        show_image(axes[row, 0], picture.transpose(1, 2, 0) if picture.shape[0] in (3, 4) else picture[0],
                   "input" if row == 0 else None, cmap="gray")
        maps = out.numpy()[0]
        for c in range(max_maps):
            ax = axes[row, 1 + c]
            if c < maps.shape[0]:
                show_image(ax, maps[c], f"channel {c}", cmap="viridis")
            else:
                ax.axis("off")
        axes[row, 0].set_ylabel(f"{name}\n{type(module).__name__}", fontsize=7)
    fig.suptitle(f"feature maps of {type(model).__name__}", fontsize=9)
    return save_png(fig, path, force)
