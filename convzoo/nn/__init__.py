"""Neural-network layers, the functional API, initialisation and losses."""
from . import functional, init
from .layers import *  # noqa: F401,F403 (the layer classes, listed in layers.__all__)
from .layers import __all__ as _layers
from .module import LayerError, Module, ModuleList, Parameter, Sequential

__all__ = ["LayerError", "Module", "ModuleList", "Parameter", "Sequential", "functional", "init"] + _layers
