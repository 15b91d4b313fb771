"""A VGG-like network whose 3×3 convolutions are spatially separable: (3, 1) then (1, 3)."""
from .. import nn


class SpatialSeparableNet(nn.Module):
    """Each k×k convolution factored into a (k, 1) and a (1, k) convolution, as in Inception v3.

    That costs 2k instead of k² multiply-adds per output pair of channels and forces each filter
    to be rank one in space (a separable kernel, like a Gaussian or a Sobel filter). Blocks of two
    ``SpatialSeparableConv2d`` + BatchNorm + ReLU, each block ending in a 2×2 max pool; then a
    Linear classifier.

    Args:
        in_channels: image channels.
        num_classes: outputs (logits).
        channels: output channels of each block.
        kernel_size: k of the separable k×k convolutions.

    Shape:
        input (N, in_channels, H, W) of any size; output (N, num_classes).
    """

    name = "spatial-separable"

    def __init__(self, in_channels=1, num_classes=10, channels=(16, 32), kernel_size=3):
        super().__init__()
        channels = [int(c) for c in channels]
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "channels": channels,
                       "kernel_size": kernel_size}
        layers, c_in = [], in_channels
        for c_out in channels:
            for _ in range(2):
                layers += [nn.SpatialSeparableConv2d(c_in, c_out, kernel_size, padding="same", bias=False),
                           nn.BatchNorm2d(c_out), nn.ReLU()]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
