#!/usr/bin/env python3
"""Writes Tests/ClusteringTests/Fixtures/classical.json: small data sets and what scikit-learn computes on
them, for the classical methods' tests (spectral, GMM, Ward with and without connectivity, HDBSCAN, PCA). Run with scikit-learn installed
(bench/embeddings installs it into .venv-bench): .venv-bench/bin/python scripts/make-classical-fixtures.py"""
import json, os
import numpy as np
import sklearn
from sklearn.cluster import HDBSCAN, AgglomerativeClustering, SpectralClustering
from sklearn.decomposition import PCA
from sklearn.mixture import GaussianMixture
from sklearn.metrics import silhouette_score
from sklearn.neighbors import kneighbors_graph
from scipy.cluster import hierarchy

rng = np.random.default_rng(7)
# Three well-separated blobs of different sizes and spreads in 3-D.
centres = np.array([[0, 0, 0], [6, 0, 1], [0, 7, -2]], float)
sizes, spreads = [40, 70, 90], [0.5, 1.0, 0.8]
blobs = np.vstack([c + s * rng.standard_normal((m, 3)) for c, m, s in zip(centres, sizes, spreads)])
truth = np.repeat(np.arange(3), sizes)
# HDBSCAN: two dense blobs and uniform scatter.
dense = np.vstack([rng.normal([0, 0], 0.3, (60, 2)), rng.normal([4, 4], 0.4, (80, 2)), rng.uniform(-3, 7, (20, 2))])
out = {"sklearn": sklearn.__version__, "blobs": blobs.tolist(), "truth": truth.tolist(), "dense": dense.tolist()}
out["spectral"] = SpectralClustering(3, affinity="nearest_neighbors", n_neighbors=10, random_state=0).fit_predict(blobs).tolist()
out["ward"] = AgglomerativeClustering(3, linkage="ward", connectivity=kneighbors_graph(blobs, 10)).fit_predict(blobs).tolist()
out["ward_exact"] = {"labels": AgglomerativeClustering(3, linkage="ward").fit_predict(blobs).tolist(),
                     "linkage": hierarchy.ward(blobs).ravel().tolist()}
hd = HDBSCAN(min_cluster_size=10, copy=True).fit(dense)
out["hdbscan"] = {"labels": hd.labels_.tolist(), "probabilities": hd.probabilities_.tolist()}
pca = PCA(2).fit(blobs)
out["pca"] = {"components": pca.components_.tolist(), "explained_variance": pca.explained_variance_.tolist()}
out["silhouette"] = silhouette_score(blobs, truth)
out["gmm"] = {}
for kind in ["full", "diag", "spherical"]:
    g = GaussianMixture(3, covariance_type=kind, random_state=0).fit(blobs)
    out["gmm"][kind] = {"weights": g.weights_.tolist(), "means": g.means_.ravel().tolist(),
                        "covariances": np.asarray(g.covariances_).ravel().tolist(), "score": g.score(blobs),
                        "bic": g.bic(blobs), "labels": g.predict(blobs).tolist()}
path = os.path.join(os.path.dirname(__file__), "..", "Tests", "ClusteringTests", "Fixtures", "classical.json")
with open(path, "w") as f:
    json.dump(out, f)
print("wrote", os.path.normpath(path))
