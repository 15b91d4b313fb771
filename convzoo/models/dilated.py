"""A dilated context network: 3×3 convolutions with growing dilation and no pooling."""
from .. import nn


class DilatedNet(nn.Module):
    """The context module of Yu & Koltun ("Multi-Scale Context Aggregation by Dilated Convolutions", 2016).

    3×3 convolutions with dilation 1, 2, 4, 8, ... and "same" padding keep the full resolution
    while the receptive field doubles each layer (1 + 2·(1 + 2 + 4 + 8) = 31 pixels with four
    layers, more than a 28×28 digit). Global average pooling and one Linear layer classify.

    Args:
        in_channels: image channels.
        num_classes: outputs (logits).
        channels: output channels of each dilated convolution.
        dilations: the dilation of each convolution (same length as channels).

    Shape:
        input (N, in_channels, H, W) of any size; output (N, num_classes).
    """

    name = "dilated"

    def __init__(self, in_channels=1, num_classes=10, channels=(16, 16, 32, 32), dilations=(1, 2, 4, 8)):
        super().__init__()
        channels, dilations = [int(c) for c in channels], [int(d) for d in dilations]
        if len(channels) != len(dilations):
            raise ValueError(f"channels and dilations must have the same length; received {channels} and {dilations}")
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "channels": channels,
                       "dilations": dilations}
        layers, c_in = [], in_channels
        for c_out, d in zip(channels, dilations):
            layers += [nn.Conv2d(c_in, c_out, 3, padding="same", dilation=d, bias=False), nn.BatchNorm2d(c_out),
                       nn.ReLU()]
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))
