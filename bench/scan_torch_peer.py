"""PyTorch side of bench/scan: the same SCAN pipeline as cluster.scan on digits — the digits net's trunk
(128-d), projection head 128→128→64, SimCLR 60 epochs (batch 256, τ 0.2, Adam 1e-3 with a cosine
schedule per epoch, the "strong" policy: affine ±25°, scale 0.8–1.2, shear ±15°, shift ±1 px,
brightness/contrast ±0.4, noise σ 0.05, cutout 2 px), exact K = 20 neighbours by cosine similarity,
SCAN 30 epochs (5 heads, entropy weight 5, Adam 1e-3, batch 128, "mild" policy: ±10°, scale 0.95–1.05,
shift ±1 px, noise 0.02), self-labeling 20 epochs (threshold 0.99, class-balanced CE on the strong view,
Adam 1e-4, batch 256). One thread. Usage: scan_torch_peer.py DATASETS_DIR SEED → one JSON line."""
import json, math, os, resource, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

torch.set_num_threads(1)
directory, seed = sys.argv[1], int(sys.argv[2])
# Epoch budgets (SimCLR, SCAN, self-labeling); a smoke test may pass smaller ones.
PRETEXT, SCAN_EPOCHS, SELF = (int(v) for v in (sys.argv[3:6] if len(sys.argv) >= 6 else (60, 30, 20)))
torch.manual_seed(seed); np.random.seed(seed)
x = np.fromfile(os.path.join(directory, "digits", "digits-images.u8"), np.uint8).reshape(-1, 1, 8, 8).astype(np.float32)
x /= x.max()
y = np.fromfile(os.path.join(directory, "digits", "digits-labels.u8"), np.uint8).astype(int)
X, n = torch.from_numpy(x), len(x)
K, HEADS = 10, 5
trunk = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                      nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                      nn.Linear(1024, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU())
projection = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 64))
heads = nn.ModuleList([nn.Linear(128, K) for _ in range(HEADS)])


from torch_augment import mild, strong  # noqa: E402


def nt_xent(z, tau):
    z = F.normalize(z, dim=1)
    m = z.shape[0]
    sim = z @ z.t() / tau
    sim = sim - torch.eye(m) * 1e9
    targets = torch.cat([torch.arange(m // 2, m), torch.arange(0, m // 2)])
    return F.cross_entropy(sim, targets)


def scores(clusters):
    counts = np.zeros((max(clusters.max() + 1, 10), 10))
    for c, l in zip(clusters, y): counts[c, l] += 1
    r, c = linear_sum_assignment(-counts)
    return counts[r, c].sum() / n, normalized_mutual_info_score(y, clusters), adjusted_rand_score(y, clusters)


start = time.perf_counter()
params = list(trunk.parameters()) + list(projection.parameters())
opt = torch.optim.Adam(params, lr=1e-3)
for epoch in range(PRETEXT):
    for g in opt.param_groups: g["lr"] = 1e-3 * 0.5 * (1 + math.cos(math.pi * epoch / PRETEXT))
    trunk.train(); order = torch.randperm(n)
    for b in range(n // 256):
        batch = X[order[b * 256:(b + 1) * 256]]
        loss = nt_xent(projection(trunk(torch.cat([strong(batch), strong(batch)]))), 0.2)
        opt.zero_grad(); loss.backward(); opt.step()
trunk.eval()
with torch.no_grad():
    features = F.normalize(trunk(X), dim=1)
    sim = features @ features.t()
    sim.fill_diagonal_(-2)
    neighbours = sim.topk(20, dim=1).indices
agreement = float((torch.from_numpy(y)[neighbours] == torch.from_numpy(y)[:, None]).float().mean())

params = list(trunk.parameters()) + list(heads.parameters())
opt = torch.optim.Adam(params, lr=1e-3)
for epoch in range(SCAN_EPOCHS):
    trunk.train(); order = torch.randperm(n); sums = np.zeros(HEADS)
    for b in range(n // 128):
        idx = order[b * 128:(b + 1) * 128]
        partners = neighbours[idx, torch.randint(0, 20, (len(idx),))]
        f = trunk(torch.cat([mild(X[idx]), mild(X[partners])]))
        total = 0
        for h, head in enumerate(heads):
            p = F.softmax(head(f), 1)
            a, q = p[:len(idx)], p[len(idx):]
            consistency = -torch.log((a * q).sum(1).clamp_min(1e-8)).mean()
            mean = a.mean(0)
            entropy = -(mean * torch.log(mean.clamp_min(1e-8))).sum()
            loss = consistency - 5 * entropy
            sums[h] += loss.item(); total = total + loss
        opt.zero_grad(); total.backward(); opt.step()
    best = int(np.argmin(sums))

head = heads[best]
params = list(trunk.parameters()) + list(head.parameters())
opt = torch.optim.Adam(params, lr=1e-4)
for epoch in range(SELF):
    order = torch.randperm(n)
    for b in range(n // 256):
        batch = X[order[b * 256:(b + 1) * 256]]
        trunk.eval()
        with torch.no_grad():
            weak = F.softmax(head(trunk(batch)), 1)
        trunk.train()
        confidence, labels = weak.max(1)
        mask = confidence > 0.99
        if mask.sum() == 0: continue
        counts = torch.bincount(labels[mask], minlength=K).float()
        weights = torch.where(counts > 0, 1.0 / counts.clamp_min(1), torch.zeros_like(counts)) / (counts > 0).sum()
        logits = head(trunk(strong(batch)))
        loss = (F.cross_entropy(logits[mask], labels[mask], reduction="none") * weights[labels[mask]]).sum()
        opt.zero_grad(); loss.backward(); opt.step()
trunk.eval()
with torch.no_grad():
    clusters = head(trunk(X)).argmax(1).numpy()
acc, nmi, ari = scores(clusters)
print(json.dumps({"seed": seed, "seconds": time.perf_counter() - start, "acc": float(acc), "nmi": float(nmi), "ari": float(ari),
                  "agreement": agreement, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
