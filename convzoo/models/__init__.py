"""Small models, each exercising a different kind of convolution, and a registry by name."""
from .autoencoder import ConvAutoencoder
from .dilated import DilatedNet
from .lenet import LeNet5
from .mobilenet import MobileNet
from .registry import MODELS, architecture, get_model, list_models
from .spatial_separable import SpatialSeparableNet
from .vgg import VGG

__all__ = ["MODELS", "VGG", "ConvAutoencoder", "DilatedNet", "LeNet5", "MobileNet", "SpatialSeparableNet",
           "architecture", "get_model", "list_models"]
