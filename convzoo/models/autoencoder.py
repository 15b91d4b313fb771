"""A convolutional autoencoder with U-Net-style skips: strided convs down, transposed convs up."""
from .. import nn


class ConvAutoencoder(nn.Module):
    """Encoder: three 3×3 convs (the last two with stride 2); decoder: two stride-2 transposed convs.

    Resolution goes H -> H/2 -> H/4 and back up; ``skip=True`` adds each encoder feature map to the
    decoder map of the same size (as U-Net does, with a sum instead of a concatenation, like
    LinkNet), so fine detail need not squeeze through the bottleneck. Trained with ``F.mse_loss``
    on (noisy image, clean image) pairs it is a denoiser; with per-pixel class logits and
    cross entropy it is a segmenter.

    Args:
        in_channels: input image channels.
        out_channels: output channels (1 for a denoised grey image).
        channels: width of the first level (doubled at each lower level).
        skip: add the encoder's feature maps to the decoder's.

    Shape:
        input (N, in_channels, H, W) with H and W divisible by 4; output (N, out_channels, H, W).
    """

    name = "autoencoder"
    task = "reconstruction"

    def __init__(self, in_channels=1, out_channels=1, channels=16, skip=True):
        super().__init__()
        c = int(channels)
        self.config = {"in_channels": in_channels, "out_channels": out_channels, "channels": c, "skip": bool(skip)}
        self.skip = bool(skip)
        self.enc1 = nn.Sequential(nn.Conv2d(in_channels, c, 3, padding=1), nn.ReLU())
        self.enc2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, stride=2, padding=1), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, stride=2, padding=1), nn.ReLU())
        self.dec3 = nn.Sequential(nn.ConvTranspose2d(4 * c, 2 * c, 3, stride=2, padding=1, output_padding=1), nn.ReLU())
        self.dec2 = nn.Sequential(nn.ConvTranspose2d(2 * c, c, 3, stride=2, padding=1, output_padding=1), nn.ReLU())
        self.head = nn.Conv2d(c, out_channels, 3, padding=1)

    def forward(self, x):
        if x.ndim == 4 and (x.shape[2] % 4 or x.shape[3] % 4):
            raise ValueError(f"ConvAutoencoder expects input (N, C, H, W) with H and W divisible by 4; "
                             f"received {tuple(x.shape)}")
        e1 = self.enc1(x)
        e2 = self.enc2(e1)
        d = self.dec3(self.enc3(e2))
        d = self.dec2(d + e2 if self.skip else d)
        return self.head(d + e1 if self.skip else d)
