"""DeepPrivacy-style conditional face generator (torch; training and export only).

Input (B, 10, S, S): masked crop in [-1, 1] with the face region zeroed (3), the mask (1), five sketch
channels of the (identity-swapped) dense landmarks (5), a noise map (1). Output (B, 3, S, S) in [-1, 1],
already composited: the generated pixels inside the mask, the input context outside it.
A U-Net whose skips carry the context; residual blocks at the bottleneck.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from .layout import IN_CHANNELS, OUT_CHANNELS


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1), nn.GroupNorm(8, cout), nn.LeakyReLU(0.2, True))


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.body = nn.Sequential(_conv(ch, ch), nn.Conv2d(ch, ch, 3, 1, 1), nn.GroupNorm(8, ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.leaky_relu(x + self.body(x), 0.2)


class Generator(nn.Module):
    """U-Net, ``width`` channels at full resolution, doubling per level up to 8x."""

    def __init__(self, width: int = 32, levels: int = 4, res_blocks: int = 3):
        super().__init__()
        chs = [min(width * 2**i, width * 8) for i in range(levels + 1)]
        self.stem = _conv(IN_CHANNELS, chs[0])
        self.down = nn.ModuleList([nn.Sequential(_conv(chs[i], chs[i + 1], 2), _conv(chs[i + 1], chs[i + 1]))
                                   for i in range(levels)])
        self.mid = nn.Sequential(*[ResBlock(chs[-1]) for _ in range(res_blocks)])
        self.up = nn.ModuleList([nn.Sequential(_conv(chs[i + 1] + chs[i], chs[i]), _conv(chs[i], chs[i]))
                                 for i in reversed(range(levels))])
        self.head = nn.Conv2d(chs[0], OUT_CHANNELS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        masked, mask = x[:, :3], x[:, 3:4]
        skips = [self.stem(x)]
        for d in self.down:
            skips.append(d(skips[-1]))
        h = self.mid(skips.pop())
        for u in self.up:
            skip = skips.pop()
            h = F.interpolate(h, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            h = u(torch.cat([h, skip], 1))
        out = torch.tanh(self.head(h))
        return out * mask + masked * (1 - mask)


class Discriminator(nn.Module):
    """PatchGAN on (image, mask, sketch); spectral norm; returns patch logits and intermediate features."""

    def __init__(self, width: int = 32, cin: int = 3 + 1 + 5):
        super().__init__()
        sn = nn.utils.spectral_norm
        chs = [cin, width, width * 2, width * 4, width * 8]
        self.blocks = nn.ModuleList([nn.Sequential(sn(nn.Conv2d(chs[i], chs[i + 1], 4, 2, 1)),
                                                   nn.LeakyReLU(0.2, True)) for i in range(4)])
        self.out = sn(nn.Conv2d(chs[-1], 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        feats = []
        for b in self.blocks:
            x = b(x)
            feats.append(x)
        return self.out(x), feats


def count_parameters(m: nn.Module) -> int:
    return sum(p.numel() for p in m.parameters())
