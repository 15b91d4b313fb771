"""Neural-network layers, the functional API, initialisation and losses."""
from . import functional

__all__ = ["functional"]
