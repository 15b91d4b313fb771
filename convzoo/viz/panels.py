"""Before/after panels for image filters."""
from .canvas import figure, png_path, save_png, show_image


def plot_filters(image, path, outputs=("blur", "sharpen", "find_edges", "emboss"), *, size=None, force=False):
    """The image next to filtered versions of it.

    Args:
        image: (H, W) grey or (H, W, C) colour, as ``convzoo.filters`` takes it.
        path: PNG file to write.
        outputs: kernel names applied with ``filters.apply``, or a dict of title -> filtered image.
        size: (width, height) in pixels; default from the number of panels.
        force: replace an existing file.

    Returns:
        The Path written.
    """
    from .. import filters

    png_path(path, force)
    if isinstance(outputs, dict):
        panels = list(outputs.items())
    else:
        panels = [(name, filters.apply(image, name)) for name in ([outputs] if isinstance(outputs, str) else outputs)]
    if not panels:
        raise ValueError("outputs must name at least one filter")
    if size is None:
        size = (260 * (1 + len(panels)), 300)
    fig = figure(size)
    axes = fig.subplots(1, 1 + len(panels), squeeze=False)[0]
    show_image(axes[0], image, "original")
    for ax, (title, filtered) in zip(axes[1:], panels):
        show_image(ax, filtered, title)
    fig.tight_layout()
    return save_png(fig, path, force)
