"""A MobileNet-style network: a standard 3×3 stem, then depthwise separable blocks."""
from .. import nn


def separable_block(c_in, c_out, stride):
    """MobileNet v1's block: depthwise 3×3 -> BN -> ReLU -> pointwise 1×1 -> BN -> ReLU.

    The first four are one ``SeparableConv2d`` with its optional norm and activation switched on.
    """
    return nn.Sequential(
        nn.SeparableConv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False, activation=nn.ReLU(),
                           batch_norm=True),
        nn.BatchNorm2d(c_out), nn.ReLU())


class MobileNet(nn.Module):
    """MobileNet v1 (Howard et al. 2017) scaled down for 28×28 images.

    A depthwise separable block costs 1/C_out + 1/9 of a full 3×3 convolution's multiply-adds:
    the depthwise 3×3 filters space per channel, the pointwise 1×1 mixes channels. The network is
    a 3×3 stem, ``blocks`` of (out_channels, stride), global average pooling and one Linear layer.

    Args:
        in_channels: image channels.
        num_classes: outputs (logits).
        stem: channels of the first (standard) convolution.
        blocks: (out_channels, stride) of each depthwise separable block.

    Shape:
        input (N, in_channels, H, W) of any size; output (N, num_classes).
    """

    name = "mobilenet"

    def __init__(self, in_channels=1, num_classes=10, stem=16, blocks=((32, 2), (64, 2), (64, 1))):
        super().__init__()
        blocks = [[int(c), int(s)] for c, s in blocks]
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "stem": stem, "blocks": blocks}
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU())
        layers, c_in = [], stem
        for c_out, stride in blocks:
            layers.append(separable_block(c_in, c_out, stride))
            c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)))
