"""A receptive field drawn over the input image."""
from ..nn.summary import receptive_field
from .canvas import figure, png_path, save_png, show_image
from .features import model_input


def plot_receptive_field(model, image, path, *, layer=None, index=None, size=(480, 480), force=False):
    """Outline the input pixels that one output position of ``layer`` depends on.

    Args:
        model: a Module taking (N, C, H, W).
        image: the input, (H, W), (C, H, W) or (1, C, H, W).
        path: PNG file to write.
        layer: dotted layer name; default the last layer that still has a spatial field.
        index: (row, column) of the output position; default the centre of the layer's output.
        size: (width, height) in pixels.
        force: replace an existing file.

    Returns:
        The Path written.
    """
    png_path(path, force)
    x = model_input(model, image)
    fields = [f for f in receptive_field(model, tuple(x.shape[1:])) if f.lo is not None and len(f.lo) == 2]
    if not fields:
        raise ValueError(f"{type(model).__name__} has no layer with a 2-D receptive field")
    if layer is None:
        field = fields[-1]
    else:
        field = next((f for f in fields if f.name == layer), None)
        if field is None:
            raise ValueError(f"unknown layer {layer!r}; layers with a 2-D receptive field: "
                             f"{', '.join(f.name for f in fields)}")
    out_hw = field.output_shape[1:]
    index = tuple(n // 2 for n in out_hw) if index is None else tuple(index)
    if len(index) != 2 or not all(0 <= i < n for i, n in zip(index, out_hw)):
        raise ValueError(f"index must be (row, column) inside the output {out_hw} of {field.name}; received {index!r}")
    (top, bottom), (left, right) = field.bounds(index)
    fig = figure(size)
    ax = fig.subplots()
    picture = x.numpy()[0]
    show_image(ax, picture.transpose(1, 2, 0) if picture.shape[0] in (3, 4) else picture[0])
    from matplotlib.patches import Rectangle

    ax.add_patch(Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1, fill=False,
                           edgecolor="red", linewidth=2))
    ax.plot([(left + right) / 2], [(top + bottom) / 2], "r+", markersize=12)
    h, w = picture.shape[1:]
    ax.set_xlim(min(-0.5, left - 1), max(w - 0.5, right + 1))
    ax.set_ylim(max(h - 0.5, bottom + 1), min(-0.5, top - 1))
    ax.set_title(f"{field.name} ({field.kind}) output {index}: field rows {top}..{bottom}, columns {left}..{right} "
                 f"({bottom - top + 1}x{right - left + 1})", fontsize=8)
    return save_png(fig, path, force)
