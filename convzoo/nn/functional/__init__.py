"""The functional API (``import convzoo.nn.functional as F``): validate, then call primitives."""
from .activation import elu, gelu, leaky_relu, log_softmax, relu, sigmoid, softmax, tanh
from .conv import conv1d, conv2d, conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d
from .regularization import dropout
from .linear import flatten, linear
from .loss import cross_entropy, mse_loss, nll_loss
from .normalization import batch_norm
from .padding import pad
from .pooling import (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, adaptive_max_pool2d,
                      avg_pool1d, avg_pool2d, avg_pool3d, max_pool1d, max_pool2d, max_pool3d)

__all__ = [
    "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool2d",
    "avg_pool1d", "avg_pool2d", "avg_pool3d", "batch_norm", "conv1d", "conv2d", "conv3d", "conv_transpose1d",
    "conv_transpose2d", "conv_transpose3d", "cross_entropy", "dropout", "elu", "flatten", "gelu", "leaky_relu",
    "linear", "log_softmax", "max_pool1d", "max_pool2d", "max_pool3d", "mse_loss", "nll_loss", "pad", "relu",
    "sigmoid", "softmax", "tanh",
]
