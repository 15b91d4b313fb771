"""Neural-network layers, the functional API, initialisation and losses."""
from . import functional
from .module import Module, ModuleList, Parameter, Sequential

__all__ = ["Module", "ModuleList", "Parameter", "Sequential", "functional"]
