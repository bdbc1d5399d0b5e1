"""The augmentation policies of the PyTorch peers of bench/scan and bench/ruc, on square images of any size: the same steps as
cluster.scan's "strong" and "mild" policies (affine, ±1 px shift, photometric jitter, noise, cutout)."""
import math

import numpy as np
import torch
import torch.nn.functional as F


def augment(batch, degrees, scale_range, shear_deg, photometric, noise, cutout):
    m = batch.shape[0]
    angle = (torch.rand(m) * 2 - 1) * degrees * math.pi / 180
    scale = scale_range[0] + torch.rand(m) * (scale_range[1] - scale_range[0])
    shear = (torch.rand(m) * 2 - 1) * shear_deg * math.pi / 180
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    mat = torch.stack([torch.stack([scale * cos, scale * (cos * tan - sin)], 1), torch.stack([scale * sin, scale * (sin * tan + cos)], 1)], 1)
    theta = torch.cat([torch.linalg.inv(mat), torch.zeros(m, 2, 1)], 2)
    out = F.grid_sample(batch, F.affine_grid(theta, batch.shape, align_corners=True), align_corners=True)
    side = batch.shape[-1]
    pad = max(1, side // 8)  # as cluster.scan's randomCrop(padding: max(1, h / 8))
    shift = torch.randint(-pad, pad + 1, (m, 2))
    padded = F.pad(out, (pad, pad, pad, pad))
    out = torch.stack([padded[i, :, pad + shift[i, 0]:pad + side + shift[i, 0], pad + shift[i, 1]:pad + side + shift[i, 1]] for i in range(m)])
    if photometric:
        gain = 1 + (torch.rand(m, 1, 1, 1) * 2 - 1) * photometric
        stretch = 1 + (torch.rand(m, 1, 1, 1) * 2 - 1) * photometric
        mean = out.mean(dim=(1, 2, 3), keepdim=True)
        out = (out * gain - mean) * stretch + mean
    out = out + torch.randn_like(out) * noise
    if cutout:
        for i in range(m):
            cy, cx = np.random.randint(side) - cutout // 2, np.random.randint(side) - cutout // 2
            out[i, :, max(0, cy):max(0, cy + cutout), max(0, cx):max(0, cx + cutout)] = 0
    return out.clamp(0, 1)


strong = lambda b: augment(b, 25, (0.8, 1.2), 15, 0.4, 0.05, max(2, b.shape[-1] // 4))
mild = lambda b: augment(b, 10, (0.95, 1.05), 0, 0.0, 0.02, 0)
