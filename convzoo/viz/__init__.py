"""Pictures of what a CNN does: kernels, feature maps, training curves, receptive fields, filters.

A leaf package. matplotlib (the ``plot`` extra) is imported only when a picture is drawn, with the
Agg backend, so no display is needed; every PNG is written atomically.
"""
from .files import write_atomically

__all__ = ["write_atomically"]
