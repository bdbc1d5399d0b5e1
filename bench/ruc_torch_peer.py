"""PyTorch side of bench/ruc: MixMatch and RUC as cluster.ruc/semi.mixmatch run them, on digits, one thread.
The digits net (the classifier of cluster.scan: conv 32, conv 64, pool, 1024→128, →10, batch norm), the "mild"
policy (±10°, scale 0.95–1.05, shift ±1 px, noise 0.02) for unlabelled views and MixMatch's labelled views, the
"strong" one (±25°, scale 0.8–1.2, shear ±15°, shift, brightness/contrast ±0.4, noise 0.05, cutout 2) for RUC's
clean views; MixMatch: K = 2, T = 0.5, α = 0.75, λ_u ramped linearly, Adam, EMA of the weights with TensorFlow's
num_updates warm-up, batch 64, one pass over the larger set per epoch.
Usage:
  ruc_torch_peer.py mixmatch DATASETS_DIR SEED PER_CLASS EPOCHS [supervised]        → one JSON line
  ruc_torch_peer.py ruc DATASETS_DIR SEED ASSIGNMENTS.npy CLEAN.npy EPOCHS           → one JSON line
(RUC takes the source's assignments and the clean set our selection chose, so both sides refine the same labels.)"""
import copy, json, math, os, resource, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

torch.set_num_threads(1)
mode, directory, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
torch.manual_seed(seed); np.random.seed(seed)
x = np.fromfile(os.path.join(directory, "digits", "digits-images.u8"), np.uint8).reshape(-1, 1, 8, 8).astype(np.float32)
x /= x.max()
y = np.fromfile(os.path.join(directory, "digits", "digits-labels.u8"), np.uint8).astype(int)
X, n, K = torch.from_numpy(x), len(x), 10
sys.path.insert(0, os.path.dirname(__file__))


from torch_augment import mild, strong  # noqa: E402


def network():
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(),
                         nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(1024, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, K))


class EMA:
    def __init__(self, net, decay):
        self.net, self.decay, self.steps = net, decay, 0
        self.shadow = [p.detach().clone() for p in net.parameters()]

    def update(self):
        self.steps += 1
        d = min(self.decay, (1 + self.steps) / (10 + self.steps))
        with torch.no_grad():
            for s, p in zip(self.shadow, self.net.parameters()):
                s.mul_(d).add_(p.detach(), alpha=1 - d)

    def model(self):
        copy_ = copy.deepcopy(self.net)
        with torch.no_grad():
            for p, s in zip(copy_.parameters(), self.shadow):
                p.copy_(s)
        return copy_.eval()


def sharpen(p, t):
    p = p ** (1 / t)
    return p / p.sum(1, keepdim=True)


def predict(models, idx):
    with torch.no_grad():
        return sum(F.softmax(m(X[idx]), 1) for m in models) / len(models)


def draw(pool, step, batch, salt):
    # Passes over the pool in fresh random orders, as ours.
    out, orders = [], {}
    for position in range(step * batch, (step + 1) * batch):
        p = position // len(pool)
        if p not in orders:
            orders[p] = pool[torch.randperm(len(pool))]
        out.append(orders[p][position % len(pool)])
    return torch.stack(out)


def mixmatch_step(net, others, opt, ema, xi, targets_x, ui, lambda_u, labelled_aug, T=0.5, alpha=0.75, views=2):
    xb = labelled_aug(X[xi])
    with torch.no_grad():
        ub = [mild(X[ui]) for _ in range(views)]
        guess = 0
        for g, model in enumerate([net] + others):
            model.train(g == 0)
            guess = guess + sum(F.softmax(model(u), 1) for u in ub)
        net.train()
        q = sharpen(guess / (len(ub) * (1 + len(others))), T)
    inputs = torch.cat([xb] + ub)
    targets = torch.cat([targets_x] + [q] * len(ub))
    lam = np.random.beta(alpha, alpha); lam = max(lam, 1 - lam)
    perm = torch.randperm(len(inputs))
    mixed = lam * inputs + (1 - lam) * inputs[perm]
    mixed_t = lam * targets + (1 - lam) * targets[perm]
    logits = net(mixed)
    b = len(xi)
    lx = -(F.log_softmax(logits[:b], 1) * mixed_t[:b]).sum(1).mean()
    lu = ((F.softmax(logits[b:], 1) - mixed_t[b:]) ** 2).mean()
    loss = lx + lambda_u * lu
    opt.zero_grad(); loss.backward(); opt.step(); ema.update()
    return lx.item(), lu.item()


def accuracy(pred, truth):
    return float((pred == truth).mean())


def hungarian_acc(pred, truth):
    counts = np.zeros((K, K))
    for p, t in zip(pred, truth):
        counts[p, t] += 1
    r, c = linear_sum_assignment(-counts)
    return counts[r, c].sum() / len(truth)


start = time.time()
if mode == "mixmatch":
    per_class, epochs = int(sys.argv[4]), int(sys.argv[5])
    supervised = len(sys.argv) > 6 and sys.argv[6] == "supervised"
    rng = np.random.RandomState(seed)
    labelled = np.concatenate([rng.permutation(np.where(y == c)[0])[:per_class] for c in range(K)])
    unlabelled = np.setdiff1d(np.arange(n), labelled)
    net = network(); opt = torch.optim.Adam(net.parameters(), lr=0.002); ema = EMA(net, 0.999)
    L, U = torch.from_numpy(labelled), torch.from_numpy(unlabelled)
    steps = math.ceil(max(len(L), len(U)) / 64)
    for epoch in range(epochs):
        for step in range(steps):
            xi = draw(L, epoch * steps + step, 64, 0)
            tx = F.one_hot(torch.from_numpy(y)[xi], K).float()
            if supervised:
                loss = F.cross_entropy(net(mild(X[xi])), torch.from_numpy(y)[xi])
                opt.zero_grad(); loss.backward(); opt.step(); ema.update()
            else:
                ui = draw(U, epoch * steps + step, 64, 1)
                mixmatch_step(net, [], opt, ema, xi, tx, ui, 75 * min(1, (epoch + step / steps) / 16), mild)
    pred = predict([ema.model()], U).argmax(1).numpy()
    print(json.dumps({"bench": "mixmatch_peer", "supervised": supervised, "seed": seed, "acc": accuracy(pred, y[unlabelled]),
                      "seconds": time.time() - start, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
else:
    assignments = np.load(sys.argv[4]).astype(int)
    clean = np.load(sys.argv[5]).astype(int)
    epochs = int(sys.argv[6])
    labels = {int(i): int(assignments[i]) for i in clean}
    rest = np.setdiff1d(np.arange(n), clean)
    nets = [network(), network()]
    opts = [torch.optim.Adam(m.parameters(), lr=0.001) for m in nets]
    emas = [EMA(m, 0.999) for m in nets]
    for epoch in range(epochs):
        L = torch.tensor(sorted(labels)); U = torch.from_numpy(rest)
        steps = math.ceil(max(len(L), len(U)) / 64)
        for i in range(2):
            other = nets[1 - i]
            for step in range(steps):
                xi = draw(L, epoch * steps + step, 64, 0)
                given = torch.tensor([labels[int(j)] for j in xi])
                smooth = F.one_hot(given, K).float() * 0.8 + 0.2 / K
                xb = strong(X[xi])
                with torch.no_grad():
                    other.eval(); p = F.softmax(other(xb), 1)
                    w = (p.gather(1, given[:, None]) / p.max(1, keepdim=True).values)
                    tx = sharpen(w * smooth + (1 - w) * p, 0.5)
                ui = draw(U, epoch * steps + step, 64, 1) if len(U) else xi
                # The same strong labelled view the targets were refined on is the one mixed.
                mixmatch_step(nets[i], [other], opts[i], emas[i], xi, tx, ui, 25 * min(1, (epoch + step / steps) / 5), lambda _: xb)
        # Co-refurbishing with the averaged EMA models.
        if len(rest):
            p = predict([e.model() for e in emas], torch.from_numpy(rest))
            conf, arg = p.max(1)
            joined = rest[(conf >= 0.95).numpy()]
            for j, c in zip(rest[(conf >= 0.95).numpy()], arg[conf >= 0.95].numpy()):
                labels[int(j)] = int(c)
            rest = np.setdiff1d(rest, joined)
    pred = predict([e.model() for e in emas], torch.arange(n)).argmax(1).numpy()
    print(json.dumps({"bench": "ruc_peer", "seed": seed, "acc": hungarian_acc(pred, y), "seconds": time.time() - start,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
