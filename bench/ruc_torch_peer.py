"""PyTorch side of bench/ruc: MixMatch and RUC as semi.mixmatch/cluster.ruc run them, one thread.
The nets are cluster.scan's classifier (digits: conv 32, conv 64, pool, 1024→128, →10; larger images: three
conv–pool blocks, →128, →10; batch norm), the "mild" policy (±10°, scale 0.95–1.05, shift, noise 0.02) for
MixMatch's views, the "strong" one (±25°, scale 0.8–1.2, shear ±15°, shift, brightness/contrast ±0.4, noise 0.05,
cutout) for RUC's robustness term; MixMatch: K = 2, T = 0.5, α = 0.75, λ_u ramped linearly, Adam, EMA of the
weights with TensorFlow's num_updates warm-up, batch 64, one pass over the larger set per epoch. RUC as the
authors' code: MixMatch on weak views with co-refined clean targets and co-guessed unlabelled ones, plus the
cross-entropy of a strong view of each clean sample to its label smoothed by ε (0.5); co-refurbishing after
each epoch.
Usage:
  ruc_torch_peer.py mixmatch DATASETS_DIR SEED --per-class N --epochs E [--supervised 1]          → one JSON line
  ruc_torch_peer.py ruc DATASETS_DIR SEED --assignments A.npy --clean C.npy --epochs E
                    [--dataset digits|usps] [--trunk model.safetensors] [--smoothing 0.5]        → one JSON line
(RUC takes the source's assignments and the clean set our selection chose, so both sides refine the same labels.)"""
import copy, gzip, json, math, os, resource, sys, time
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

torch.set_num_threads(1)
mode, directory, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
options = dict(zip(sys.argv[4::2], sys.argv[5::2]))
DATASET = options.get("--dataset", "digits")
SMOOTHING = float(options.get("--smoothing", "0.5"))
torch.manual_seed(seed); np.random.seed(seed)


def load(name):
    """The data set as bench/ruc uploads it: digits whole, USPS train + test (9,298 16×16), MNIST train (60,000 28×28)."""
    if name == "digits":
        images = np.fromfile(os.path.join(directory, "digits", "digits-images.u8"), np.uint8).reshape(-1, 8, 8)
        return images, np.fromfile(os.path.join(directory, "digits", "digits-labels.u8"), np.uint8).astype(int)
    parts = ("train", "test") if name == "usps" else ("train",)
    read = lambda part, what: np.frombuffer(gzip.open(os.path.join(directory, name, f"{name}-{part}-{what}.u8.gz")).read(), np.uint8)
    side = 16 if name == "usps" else 28
    return (np.concatenate([read(p, "images") for p in parts]).reshape(-1, side, side),
            np.concatenate([read(p, "labels") for p in parts]).astype(int))


images, y = load(DATASET)
x = images.reshape(-1, 1, images.shape[1], images.shape[2]).astype(np.float32)
x /= x.max()
X, n, K, SIDE = torch.from_numpy(x), len(x), 10, images.shape[1]
sys.path.insert(0, os.path.dirname(__file__))


from torch_augment import mild, strong  # noqa: E402


def network():
    """cluster.scan's classifier: the digits trunk for images ≤ 12 px, the MNIST trunk above, then a linear head."""
    block = lambda cin, cout, k: [nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
    if SIDE <= 12:
        trunk = block(1, 32, 3) + block(32, 64, 3) + [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * (SIDE // 2) ** 2, 128, bias=False)]
    else:
        trunk = (block(1, 32, 5) + [nn.MaxPool2d(2)] + block(32, 64, 5) + [nn.MaxPool2d(2)] + block(64, 128, 3)
                 + [nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128 * (SIDE // 8) ** 2, 128, bias=False)])
    return nn.Sequential(nn.Sequential(*trunk, nn.BatchNorm1d(128), nn.ReLU()), nn.Linear(128, K))


def load_trunk(net, path):
    """Copies a cluster.scan model.safetensors trunk (PyTorch layout, layers named 0.<i>) into `net`'s trunk; the head stays new."""
    raw = open(path, "rb").read()
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    tensor = lambda name: torch.from_numpy(np.frombuffer(raw, np.float32, int(np.prod(header[name]["shape"])),
                                                         8 + size + header[name]["data_offsets"][0]).reshape(header[name]["shape"]).copy())
    ours = sorted({int(k.split(".")[1]) for k in header if k.startswith("0.")})
    theirs = [m for m in net[0] if isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.BatchNorm1d))]
    assert len(ours) == len(theirs), (ours, theirs)
    with torch.no_grad():
        for i, module in zip(ours, theirs):
            module.weight.copy_(tensor(f"0.{i}.weight"))
            if isinstance(module, (nn.BatchNorm2d, nn.BatchNorm1d)):
                module.bias.copy_(tensor(f"0.{i}.bias"))
                module.running_mean.copy_(tensor(f"buffer.0.{i}.running_mean"))
                module.running_var.copy_(tensor(f"buffer.0.{i}.running_var"))


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


def mixmatch_step(net, others, opt, ema, xi, targets_x, ui, lambda_u, labelled_aug, T=0.5, alpha=0.75, views=2, strong_term=None):
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
    if strong_term is not None:
        # RUC's robustness term: the clean batch through the strong augmentation, its given labels smoothed by ε.
        given, epsilon = strong_term
        loss = loss + F.cross_entropy(net(strong(X[xi])), given, label_smoothing=epsilon)
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
    per_class, epochs = int(options["--per-class"]), int(options["--epochs"])
    supervised = options.get("--supervised") == "1"
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
    assignments = np.load(options["--assignments"]).astype(int).reshape(-1)
    clean = np.load(options["--clean"]).astype(int).reshape(-1)
    epochs = int(options["--epochs"])
    labels = {int(i): int(assignments[i]) for i in clean}
    rest = np.setdiff1d(np.arange(n), clean)
    nets = [network(), network()]
    if "--trunk" in options:
        for net in nets:
            load_trunk(net, options["--trunk"])
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
                xb = mild(X[xi])
                with torch.no_grad():
                    other.eval(); p = F.softmax(other(xb), 1)
                    w = (p.gather(1, given[:, None]) / p.max(1, keepdim=True).values)
                    tx = sharpen(w * F.one_hot(given, K).float() + (1 - w) * p, 0.5)
                ui = draw(U, epoch * steps + step, 64, 1) if len(U) else xi
                # The same weak labelled view the targets were refined on is the one mixed.
                mixmatch_step(nets[i], [other], opts[i], emas[i], xi, tx, ui, 25 * min(1, (epoch + step / steps) / 5), lambda _: xb,
                              strong_term=(given, SMOOTHING))
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
