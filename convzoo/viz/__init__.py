"""Pictures of what a CNN does: kernels, feature maps, training curves, receptive fields, filters.

A leaf package. matplotlib (the ``plot`` extra) is imported only when a picture is drawn, on its
Agg canvas, so no display is needed and the global backend is left alone; every PNG is written
atomically and an existing file is replaced only with ``force=True``.
"""
from .curves import load_history, plot_curves
from .features import plot_feature_maps
from .fields import plot_receptive_field
from .files import write_atomically
from .panels import plot_filters
from .weights import plot_kernels

__all__ = ["load_history", "plot_curves", "plot_feature_maps", "plot_filters", "plot_kernels",
           "plot_receptive_field", "write_atomically"]
