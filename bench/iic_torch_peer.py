"""PyTorch side of bench/iic: the same IIC as cluster.iic — the digits net's trunk to a 128-d feature,
5 main (k) and 5 over-clustering (5k) linear sub-heads trained jointly on every batch, pairs
(g(x), g'(x)) repeated r = 2 times per batch, loss −I(z; z') with λ = 1 and ε = 1e-7, Adam at 5e-3,
batch 128 (last partial batch dropped), 50 epochs, the same augmentation policy (affine ±15°,
scale 0.9–1.1, shear ±8°, bilinear; shift by up to h/8 px; brightness/contrast ±0.2; noise σ 0.03;
clamp to [0, 1]), evaluated with the lowest-loss main sub-head. One thread.
Usage: iic_torch_peer.py DATASETS_DIR EPOCHS SEED  → one JSON line."""
import json, math, os, resource, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

torch.set_num_threads(1)
directory, epochs, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.manual_seed(seed); np.random.seed(seed)
x = np.fromfile(os.path.join(directory, "digits", "digits-images.u8"), np.uint8).reshape(-1, 1, 8, 8).astype(np.float32)
x /= x.max()
y = np.fromfile(os.path.join(directory, "digits", "digits-labels.u8"), np.uint8).astype(int)
X = torch.from_numpy(x)
K, OVER, HEADS, BATCH, R, LR, EPS = 10, 50, 5, 128, 2, 5e-3, 1e-7

trunk = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                      nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(1024, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU())
main_heads = nn.ModuleList([nn.Linear(128, K) for _ in range(HEADS)])
over_heads = nn.ModuleList([nn.Linear(128, OVER) for _ in range(HEADS)])
params = list(trunk.parameters()) + list(main_heads.parameters()) + list(over_heads.parameters())
optimizer = torch.optim.Adam(params, lr=LR)


def augment(batch):
    n = batch.shape[0]
    angle = (torch.rand(n) * 2 - 1) * 15 * math.pi / 180
    scale = 0.9 + torch.rand(n) * 0.2
    shear = (torch.rand(n) * 2 - 1) * 8 * math.pi / 180
    cos, sin, tan = torch.cos(angle), torch.sin(angle), torch.tan(shear)
    m = torch.stack([torch.stack([scale * cos, scale * (cos * tan - sin)], 1), torch.stack([scale * sin, scale * (sin * tan + cos)], 1)], 1)
    theta = torch.cat([torch.linalg.inv(m), torch.zeros(n, 2, 1)], 2)
    grid = F.affine_grid(theta, batch.shape, align_corners=True)
    out = F.grid_sample(batch, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    shift = torch.randint(-1, 2, (n, 2))
    padded = F.pad(out, (1, 1, 1, 1))
    out = torch.stack([padded[i, :, 1 + shift[i, 0]:9 + shift[i, 0], 1 + shift[i, 1]:9 + shift[i, 1]] for i in range(n)])
    gain = 1 + (torch.rand(n, 1, 1, 1) * 2 - 1) * 0.2
    stretch = 1 + (torch.rand(n, 1, 1, 1) * 2 - 1) * 0.2
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out * gain - mean) * stretch + mean
    out = out + torch.randn_like(out) * 0.03
    return out.clamp(0, 1)


def iic_loss(z, zt):
    k = z.shape[1]
    p = (z.unsqueeze(2) * zt.unsqueeze(1)).sum(dim=0)
    p = (p + p.t()) / 2
    p = p / p.sum()
    p = torch.where(p < EPS, torch.full_like(p, EPS), p)
    pi = p.sum(dim=1).view(k, 1).expand(k, k)
    pj = p.sum(dim=0).view(1, k).expand(k, k)
    return -(p * (torch.log(p) - torch.log(pi) - torch.log(pj))).sum()


def accuracy(clusters, labels):
    counts = np.zeros((clusters.max() + 1, labels.max() + 1))
    for c, l in zip(clusters, labels):
        counts[c, l] += 1
    rows, cols = linear_sum_assignment(-counts)
    return counts[rows, cols].sum() / len(labels)


epoch_times, n = [], len(X)
for epoch in range(epochs):
    start = time.perf_counter()
    trunk.train()
    order = torch.randperm(n)
    sums = np.zeros(HEADS)
    for b in range(n // BATCH):
        batch = X[order[b * BATCH:(b + 1) * BATCH]]
        anchors = torch.cat([augment(batch) for _ in range(R)])
        partners = torch.cat([augment(batch) for _ in range(R)])
        features = trunk(torch.cat([anchors, partners]))
        half = R * batch.shape[0]
        total = 0
        for heads in (main_heads, over_heads):
            terms = [iic_loss(F.softmax(h(features[:half]), 1), F.softmax(h(features[half:]), 1)) for h in heads]
            if heads is main_heads:
                sums += np.array([t.item() for t in terms])
            total = total + sum(terms) / len(terms)
        optimizer.zero_grad(); total.backward(); optimizer.step()
    best = int(np.argmin(sums))
    epoch_times.append(time.perf_counter() - start)
trunk.eval()
with torch.no_grad():
    clusters = main_heads[best](trunk(X)).argmax(1).numpy()
print(json.dumps({"seed": seed, "seconds_per_epoch": float(np.mean(epoch_times)), "acc": float(accuracy(clusters, y)),
                  "nmi": float(normalized_mutual_info_score(y, clusters)), "ari": float(adjusted_rand_score(y, clusters)),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
