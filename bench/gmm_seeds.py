#!/usr/bin/env python3
"""GMM on Reuters R8 over many seeds: is bench/embeddings' `nmi_gmm_r8` miss the EM or the start? Runs our
cluster.gmm and cluster.kmeans (n_init 1, the start GMM uses) on the release server, and scikit-learn's
GaussianMixture(covariance_type="diag") and KMeans(n_init=1), each side on its own seeds 0…N−1, one thread each;
prints the mean, standard deviation and share of runs in the high NMI mode (> 0.58) per method.
Usage: .venv-bench/bin/python bench/gmm_seeds.py [N=100]   (after bench/embeddings has built the release binary)
"""
import io
import os
import sys
import tempfile

import numpy as np
import requests
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.mixture import GaussianMixture
from threadpoolctl import threadpool_limits

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EMBEDDINGS = os.path.abspath(os.path.join(ROOT, "..", "shared", "embeddings"))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from server import Server  # noqa: E402


def main():
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    threadpool_limits(1)
    x = np.load(os.path.join(EMBEDDINGS, "reuters-r8-train-minilm-l6-v2.npy"))
    y = np.load(os.path.join(EMBEDDINGS, "reuters-r8-train-labels.npy"))
    k = len(np.unique(y))
    server = Server(os.path.join(ROOT, ".build", "release", "montecluster"), os.path.join(tempfile.mkdtemp(prefix="bench-gmm-"), "data"),
                    workers=1, extra_env={"OPENBLAS_NUM_THREADS": "1"}).start()
    api = server.base

    def run(kind, params):
        job = requests.post(f"{api}/v1/jobs", json={"kind": kind, "params": params}).json()
        while not requests.get(f"{api}/v1/jobs/{job['id']}?wait=30").json()["terminal"]:
            pass
        return requests.get(f"{api}/v1/jobs/{job['id']}/result").json()["result"]["scores"]["nmi"]

    try:
        files = {}
        for part, array in (("data", x), ("labels", y)):
            buffer = io.BytesIO()
            np.save(buffer, array)
            files[part] = (f"{part}.npy", buffer.getvalue())
        dataset = requests.post(f"{api}/v1/datasets", files=files).json()["id"]
        scores = {"ours k-means, n_init 1": [], "scikit-learn KMeans(n_init=1)": [], "ours cluster.gmm": [], "scikit-learn GaussianMixture": []}
        for seed in range(seeds):
            scores["ours k-means, n_init 1"].append(run("cluster.kmeans", {"dataset": dataset, "k": k, "n_init": 1, "seed": seed}))
            scores["ours cluster.gmm"].append(run("cluster.gmm", {"dataset": dataset, "k": k, "seed": seed}))
            scores["scikit-learn KMeans(n_init=1)"].append(nmi(y, KMeans(k, n_init=1, random_state=seed).fit_predict(x)))
            scores["scikit-learn GaussianMixture"].append(
                nmi(y, GaussianMixture(k, covariance_type="diag", random_state=seed).fit(x).predict(x)))
    finally:
        server.stop()
    print(f"R8, {seeds} seeds each side")
    for name, values in scores.items():
        values = np.array(values)
        print(f"{name:32} mean {values.mean():.4f}  sd {values.std():.4f}  runs above 0.58: {np.mean(values > 0.58):.2f}  "
              f"seeds 0-9: {values[:10].mean():.4f}")


if __name__ == "__main__":
    main()
