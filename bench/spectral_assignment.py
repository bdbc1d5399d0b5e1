#!/usr/bin/env python3
"""How cluster.spectral's rows become clusters (`assign_labels`), measured outside our code: scikit-learn's spectral
embedding of the kNN graph (L2-normalised input, 10 neighbours, k eigenvectors, as SpectralClustering), then
  kmeans: k-means into k clusters (scikit-learn's SpectralClustering), or
  merge:  k-means into 2k groups, then the pair of groups with the largest W(a, b) / (vol a · vol b) joined until k remain
          (our default; 1.5k and 3k are shown too).
Data: R8 and 20NG sentence embeddings (../shared/embeddings; k-means seeds 0–4), MNIST pretext features balanced / LT10 /
LT100 (the three pretexts bench/embeddings builds under .cache/embeddings; run it first), scikit-learn's digits and
USPS as raw pixels (../shared/datasets; seeds 0–4). Then a planted-partition graph built to defeat `merge` (a large
block of three loosely joined parts and two small blocks tied to each other as loosely as the parts are).
Prints the mean NMI per data set and rule. Usage: .venv-bench/bin/python bench/spectral_assignment.py
"""
import gzip
import os

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.manifold import spectral_embedding
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score as nmi
from sklearn.neighbors import kneighbors_graph
from sklearn.preprocessing import normalize
from threadpoolctl import threadpool_limits

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SHARED = os.path.abspath(os.path.join(ROOT, "..", "shared"))
CACHE = os.path.join(ROOT, ".cache", "embeddings")


def data_sets():
    embeddings = os.path.join(SHARED, "embeddings")
    for name, base in [("r8", "reuters-r8-train"), ("20ng", "20newsgroups-test")]:
        yield name, 0, np.load(os.path.join(embeddings, base + "-minilm-l6-v2.npy")), np.load(os.path.join(embeddings, base + "-labels.npy"))
    for seed, suffix in [(0, ""), (1, "-seed1"), (2, "-seed2")]:
        for tail in ["lt10", "lt100"]:
            x, y = (os.path.join(CACHE, f"mnist-{tail}{suffix}-{part}.npy") for part in "xy")
            if os.path.exists(x):
                yield f"mnist-{tail}", seed, np.load(x), np.load(y)
        balanced = os.path.join(CACHE, f"mnist-test-simclr10{suffix}.npy")
        if os.path.exists(balanced):
            yield "mnist-balanced", seed, np.load(balanced), np.load(os.path.join(CACHE, "mnist-test-labels.npy"))
    datasets = os.path.join(SHARED, "datasets")
    digits = np.fromfile(os.path.join(datasets, "digits", "digits-images.u8"), np.uint8).reshape(-1, 64)
    yield "digits-raw", 0, digits.astype(np.float64), np.fromfile(os.path.join(datasets, "digits", "digits-labels.u8"), np.uint8).astype(int)
    read = lambda part, what: np.frombuffer(gzip.open(os.path.join(datasets, "usps", f"usps-{part}-{what}.u8.gz")).read(), np.uint8)
    usps = np.concatenate([read(p, "images") for p in ("train", "test")]).reshape(-1, 256).astype(np.float64)
    yield "usps-raw", 0, usps, np.concatenate([read(p, "labels") for p in ("train", "test")]).astype(int)


def merge(graph, labels, k):
    """cluster.spectral's merge (SpectralClustering.mergeGroups): join the pair with the largest W(a, b) / (vol a · vol b)."""
    groups = labels.max() + 1
    indicator = sp.csr_matrix((np.ones(len(labels)), (np.arange(len(labels)), labels)), shape=(len(labels), groups))
    between = (indicator.T @ graph @ indicator).toarray()
    volume = between.sum(1)
    alive = [g for g in range(groups) if (labels == g).any()]
    root = list(range(groups))
    while len(alive) > k:
        best = (-1.0, 0, 0)
        for position, a in enumerate(alive):
            for b in alive[position + 1:]:
                denominator = volume[a] * volume[b]
                score = between[a, b] / denominator if denominator > 0 else 0.0
                if score > best[0]:
                    best = (score, a, b)
        _, a, b = best
        between[a, :] += between[b, :]
        between[:, a] += between[:, b]
        volume[a] += volume[b]
        root[b] = a
        alive.remove(b)

    def find(g):
        while root[g] != g:
            g = root[g]
        return g
    number = {g: i for i, g in enumerate(alive)}
    return np.array([number[find(g)] for g in labels])


def assignments(graph, k, seed):
    embedding = spectral_embedding(graph, n_components=k, drop_first=False, random_state=seed)
    out = {"kmeans": KMeans(k, n_init=10, random_state=seed).fit_predict(embedding)}
    for factor in (1.5, 2, 3):
        groups = int(round(factor * k))
        out[f"merge {factor}k"] = merge(graph, KMeans(groups, n_init=10, random_state=seed).fit_predict(embedding), k)
    return out


def planted_partition(seed):
    """A large block of three parts (0.1 inside a part, 0.01 across parts) and two blocks of 20 (0.5 inside), every other pair 0.002."""
    rng = np.random.default_rng(seed)
    sizes = [200, 200, 200, 20, 20]
    block = np.repeat(np.arange(5), sizes)
    p = np.full((5, 5), 0.002)
    p[:3, :3] = 0.01
    for i in range(3):
        p[i, i] = 0.1
    p[3, 3] = p[4, 4] = 0.5
    edges = np.triu(rng.random((len(block), len(block))) < p[block][:, block], 1)
    return sp.csr_matrix((edges | edges.T).astype(float)), np.where(block < 3, 0, block - 2)


def main():
    threadpool_limits(1)
    results = {}
    for name, pretext, x, y in data_sets():
        graph = kneighbors_graph(normalize(x.astype(np.float64)), 10, include_self=True)
        graph = 0.5 * (graph + graph.T)
        seeds = [pretext] if name.startswith("mnist") else range(5)
        for seed in seeds:
            for rule, labels in assignments(graph, len(np.unique(y)), seed).items():
                results.setdefault(name, {}).setdefault(rule, []).append(nmi(y, labels))
        print(name, pretext, {rule: round(float(np.mean(v)), 4) for rule, v in results[name].items()}, flush=True)
    rules = ["kmeans", "merge 1.5k", "merge 2k", "merge 3k"]
    print(f"\n{'NMI':16}" + "".join(f"{rule:>12}" for rule in rules))
    for name, by_rule in results.items():
        print(f"{name:16}" + "".join(f"{np.mean(by_rule[rule]):>12.4f}" for rule in rules))
    print("\nplanted partition built to defeat merge (ARI, seeds 0–4):")
    for seed in range(5):
        graph, truth = planted_partition(seed)
        found = assignments(graph, 3, 0)
        print(f"  seed {seed}: kmeans {adjusted_rand_score(truth, found['kmeans']):.3f}, merge 2k {adjusted_rand_score(truth, found['merge 2k']):.3f}")


if __name__ == "__main__":
    main()
