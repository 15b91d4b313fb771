"""A small VGG-style network: stacks of 3×3 convolutions, each stack ending in 2×2 max pooling."""
from .. import nn


class VGG(nn.Module):
    """VGG (Simonyan & Zisserman 2014) scaled down for 28×28 images.

    Each entry of ``channels`` is a block of ``convs_per_block`` 3×3 "same" convolutions (each
    followed by BatchNorm when ``batch_norm``, then ReLU) and a 2×2 max pool; the head is
    Flatten -> Linear(hidden) -> ReLU -> Dropout -> Linear(num_classes). With the defaults
    (16, 32) it is the small CNN of the README's Fashion-MNIST run.

    Args:
        in_channels: image channels.
        num_classes: outputs (logits).
        channels: output channels of each block (each block halves the resolution).
        convs_per_block: 3×3 convolutions per block.
        hidden: width of the fully connected hidden layer.
        batch_norm: BatchNorm2d after each convolution.
        dropout: dropout probability before the last layer.
        image_size: input height and width (needed to size the first fully connected layer).

    Shape:
        input (N, in_channels, image_size, image_size); output (N, num_classes).
    """

    name = "vgg"

    def __init__(self, in_channels=1, num_classes=10, channels=(16, 32), convs_per_block=2, hidden=128,
                 batch_norm=True, dropout=0.25, image_size=28):
        super().__init__()
        channels = [int(c) for c in channels]
        self.config = {"in_channels": in_channels, "num_classes": num_classes, "channels": channels,
                       "convs_per_block": convs_per_block, "hidden": hidden, "batch_norm": batch_norm,
                       "dropout": dropout, "image_size": image_size}
        layers, c_in, size = [], in_channels, image_size
        for c_out in channels:
            for _ in range(convs_per_block):
                layers.append(nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU())
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
            size //= 2
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(c_in * size * size, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes))

    def forward(self, x):
        c, n = self.config["in_channels"], self.config["image_size"]
        if tuple(getattr(x, "shape", ())[1:]) != (c, n, n) or len(x.shape) != 4:
            raise ValueError(f"expects input of shape (N, {c}, {n}, {n}) (its Linear layer classifier.1 takes "
                             f"{self.classifier[1].in_features} features); received {tuple(getattr(x, 'shape', ()))}")
        return self.classifier(self.features(x))
