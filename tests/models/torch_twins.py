"""PyTorch models with the same layers and state_dict keys as convzoo.models, for parity tests."""
import torch
from torch import nn


class LeNet5(nn.Module):
    def __init__(self, in_channels=1, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, num_classes))

    def forward(self, x):
        return self.classifier(self.features(x))


class Separable(nn.Module):
    """convzoo.nn.SeparableConv2d(..., activation=ReLU(), batch_norm=True), with its submodule names."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, stride=stride, padding=1, groups=c_in, bias=False)
        self.norm = nn.BatchNorm2d(c_in)
        self.activation = nn.ReLU()
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        return self.pointwise(self.activation(self.norm(self.depthwise(x))))


class MobileNet(nn.Module):
    def __init__(self, in_channels=1, num_classes=10, stem=16, blocks=((32, 2), (64, 2), (64, 1))):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, stem, 3, padding=1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU())
        layers, c_in = [], stem
        for c_out, stride in blocks:
            layers.append(nn.Sequential(Separable(c_in, c_out, stride), nn.BatchNorm2d(c_out), nn.ReLU()))
            c_in = c_out
        self.blocks = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c_in, num_classes))

    def forward(self, x):
        return self.classifier(self.blocks(self.stem(x)))


def twin_of(model, twin_cls):
    """A PyTorch twin holding exactly the weights and buffers of the convzoo model (same dtype)."""
    state = {k: torch.from_numpy(v.copy()) for k, v in model.state_dict().items()}
    # cast first: load_state_dict copies into the existing tensors, in their dtype
    twin = twin_cls(**model.config).to(next(iter(state.values())).dtype)
    twin.load_state_dict(state, strict=True)
    return twin
