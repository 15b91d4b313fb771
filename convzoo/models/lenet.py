"""LeNet-5 (LeCun, Bottou, Bengio, Haffner 1998), with ReLU and max pooling as it is trained today."""
from .. import nn


class LeNet5(nn.Module):
    """Two 5×5 convolutions with pooling, then three fully connected layers: 61,706 parameters.

    On 28×28 MNIST digits the first convolution pads by 2, so the feature maps have the sizes of
    the paper's 32×32 input: 6@28×28 -> pool 6@14×14 -> 16@10×10 -> pool 16@5×5 -> 120 -> 84 -> classes.
    The paper's scaled tanh and trainable subsampling are replaced by ReLU and max pooling.

    Args:
        in_channels: image channels (1 for grey digits).
        num_classes: outputs (logits).

    Shape:
        input (N, in_channels, 28, 28); output (N, num_classes).
    """

    name = "lenet5"

    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.config = {"in_channels": in_channels, "num_classes": num_classes}
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes))

    def forward(self, x):
        expected = (self.config["in_channels"], 28, 28)
        if tuple(getattr(x, "shape", ())[1:]) != expected or len(x.shape) != 4:
            raise ValueError(f"expects input of shape (N, {', '.join(map(str, expected))}) (its Linear layer "
                             f"classifier.1 takes 16 * 5 * 5 = 400 features); received {tuple(getattr(x, 'shape', ()))}")
        return self.classifier(self.features(x))
