"""Synthetic posterior draws in the contract's layout, shared by the posterior tests (no tests here)."""

from __future__ import annotations

import numpy as np
import xarray as xr


def truth(K=3, D=2, sep=6.0, seed=0):
    """K separated components: means on a circle of radius ``sep`` (D >= 2) or ``sep``
    apart on a line (D = 1: the circle's projection would put pairs of components on
    top of each other, e.g. K = 5 at cos(4 pi / 5) = cos(6 pi / 5), and no relabelling
    could tell them apart)."""
    rng = np.random.default_rng(seed)
    if D == 1:
        layout = sep * (np.arange(K) - (K - 1) / 2.0)[:, None]
    else:
        layout = sep * np.stack(
            [np.cos(2 * np.pi * np.arange(K) / K), np.sin(2 * np.pi * np.arange(K) / K)]
            + [np.zeros(K)] * (D - 2),
            axis=1,
        )
    means = rng.normal(size=(K, D)) * 0.5 + layout
    A = rng.normal(size=(K, D, D)) * 0.3
    covs = np.eye(D)[None] * rng.uniform(0.5, 1.5, size=(K, 1, 1)) + A @ np.swapaxes(A, 1, 2)
    weights = rng.dirichlet(np.full(K, 5.0))
    return weights, means, covs


def em_dataset(weights, means, covs):
    K, D = means.shape
    feat = [f"x{i}" for i in range(D)]
    return xr.Dataset(
        {
            "weights": ("component", weights),
            "means": (("component", "feature"), means),
            "covariances": (("component", "feature", "feature_bis"), covs),
        },
        coords={"component": np.arange(K), "feature": feat, "feature_bis": feat},
    )


def draws_around(weights, means, covs, chains=2, draws=50, scale=0.05, seed=1):
    """Draws jittered around the given parameters (no label switching)."""
    rng = np.random.default_rng(seed)
    K, D = means.shape
    w = rng.dirichlet(weights * 400, size=(chains, draws))
    m = means + scale * rng.normal(size=(chains, draws, K, D))
    B = np.eye(D) + scale * rng.normal(size=(chains, draws, K, D, D))
    c = B @ covs @ np.swapaxes(B, -1, -2)
    return w, m, c


def posterior_dataset(w, m, c):
    C, S, K, D = m.shape
    feat = [f"x{i}" for i in range(D)]
    sds = np.sqrt(np.diagonal(c, axis1=-2, axis2=-1))
    corr = c / (sds[..., :, None] * sds[..., None, :])
    return xr.Dataset(
        {
            "weights": (("chain", "draw", "component"), w),
            "means": (("chain", "draw", "component", "feature"), m),
            "covariances": (("chain", "draw", "component", "feature", "feature_bis"), c),
            "sds": (("chain", "draw", "component", "feature"), sds),
            "correlations": (("chain", "draw", "component", "feature", "feature_bis"), corr),
            "lp": (("chain", "draw"), np.zeros((C, S))),
        },
        coords={
            "chain": np.arange(C),
            "draw": np.arange(S),
            "component": np.arange(K),
            "feature": feat,
            "feature_bis": feat,
        },
    )


def random_permutations(C, S, K, seed=2):
    rng = np.random.default_rng(seed)
    return np.stack([[rng.permutation(K) for _ in range(S)] for _ in range(C)])


def permute(w, m, c, perm):
    C, S, _ = perm.shape
    ci = np.arange(C)[:, None, None]
    si = np.arange(S)[None, :, None]
    return w[ci, si, perm], m[ci, si, perm], c[ci, si, perm]


def sample_data(weights, means, covs, n, seed=3):
    rng = np.random.default_rng(seed)
    z = rng.choice(len(weights), size=n, p=weights)
    L = np.linalg.cholesky(covs)
    X = means[z] + np.einsum("nde,ne->nd", L[z], rng.normal(size=(n, means.shape[1])))
    return X, z
