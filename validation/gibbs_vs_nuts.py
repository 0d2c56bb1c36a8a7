"""Posterior check of ``validation/gibbs.py`` against the package's default NUTS fit.

An easy, well-separated data set (N=300, D=2, K=2; no label switching, so the
components are relabelled by sorting on the first mean coordinate): posterior
means and sds of the weights, means, sds and correlations from the Gibbs sampler
and from ``bayesgmm.BayesianGMM(2).fit`` (nutpie, 4 x (1000 + 1000)), with
z-scores ``(mean_gibbs - mean_nuts) / sqrt(mcse_gibbs^2 + mcse_nuts^2)``
(MCSE = sd / sqrt(bulk ESS), arviz-stats).

    python validation/gibbs_vs_nuts.py [--sweeps 5000] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gibbs


def make_data(seed=0, N=300):
    rng = np.random.default_rng(seed)
    z = rng.random(N) < 0.4
    a = rng.multivariate_normal([0.0, 0.0], [[1.0, 0.5], [0.5, 1.0]], size=N)
    b = rng.multivariate_normal([5.0, 1.0], [[0.5, -0.2], [-0.2, 2.0]], size=N)
    return np.where(z[:, None], a, b)


def summaries(w, mu, cov):
    """(chains, draws, ...) arrays -> dict of (chains, draws) arrays, components sorted by mean x0."""
    order = np.argsort(mu[..., 0], axis=-1)
    take = lambda a: np.take_along_axis(a, order.reshape(order.shape + (1,) * (a.ndim - order.ndim)), axis=2)
    w, mu, cov = take(w), take(mu), take(cov)
    sd = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    out = {}
    K = w.shape[-1]
    for k in range(K):
        out[f"w[{k}]"] = w[..., k]
        for d in range(mu.shape[-1]):
            out[f"mu[{k},{d}]"] = mu[..., k, d]
            out[f"sd[{k},{d}]"] = sd[..., k, d]
        out[f"corr[{k}]"] = cov[..., k, 0, 1] / (sd[..., k, 0] * sd[..., k, 1])
    return out


def ess(x):
    import arviz_stats as azs

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(azs.ess(np.asarray(x), method="bulk", chain_axis=0, draw_axis=1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--sweeps", type=int, default=5000)
    p.add_argument("--burn", type=int, default=500)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    import bayesgmm as bg

    X = make_data()
    print(f"gibbs vs nuts: N={len(X)}, K=2, D=2; {vars(a)}; load {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    t = time.perf_counter()
    m = bg.BayesianGMM(2, random_state=a.seed, progressbar=False, log_likelihood=False).fit(X)
    t_nuts = time.perf_counter() - t
    post = m.idata_["posterior"].to_dataset()
    wn = post["weights"].transpose("chain", "draw", "component").to_numpy()
    mn = post["means"].transpose("chain", "draw", "component", "feature").to_numpy()
    cn = post["covariances"].transpose("chain", "draw", "component", "feature", "feature_bis").to_numpy()
    nuts = summaries(wn, mn, cn)

    g = gibbs.GibbsGMM(X, 2, "full")
    t = time.perf_counter()
    runs = []
    for c in range(a.chains):
        rng = np.random.default_rng([a.seed, 100 + c])
        runs.append(g.run(rng, a.sweeps, g.initial_state(rng, "prior" if c % 2 == 0 else "random_z"), burn=a.burn))
    t_g = time.perf_counter() - t
    wg = np.stack([r["weights"] for r in runs])
    mg = np.stack([r["means"] for r in runs])
    Lg = np.stack([r["chol"] for r in runs])
    gib = summaries(wg, mg, Lg @ np.swapaxes(Lg, -1, -2))
    print(f"NUTS {t_nuts:.1f} s (EM included), Gibbs {t_g:.1f} s ({1e3 * t_g / (a.chains * (a.sweeps + a.burn)):.2f} "
          f"ms/sweep); covariance MH acceptance (IW, prior, RW) {np.round(g.accept / g.tries, 3).tolist()}")
    print(f"{'quantity':10s} {'gibbs mean':>11s} {'(sd)':>8s} {'ess':>6s} {'nuts mean':>11s} {'(sd)':>8s} {'ess':>6s} "
          f"{'z':>6s} {'sd ratio':>8s} {'rhat_g':>7s}")
    zs = []
    for k in gib:
        xg, xn = gib[k], nuts[k]
        eg, en = ess(xg), ess(xn)
        se = np.sqrt(xg.var() / eg + xn.var() / en)
        z = (xg.mean() - xn.mean()) / se
        zs.append(z)
        print(f"{k:10s} {xg.mean():11.4f} {xg.std():8.4f} {eg:6.0f} {xn.mean():11.4f} {xn.std():8.4f} {en:6.0f} "
              f"{z:6.2f} {xg.std() / xn.std():8.3f} {gibbs.split_rhat(xg):7.4f}")
    zs = np.array(zs)
    print(f"max |z| {np.abs(zs).max():.2f} over {zs.size} quantities; mean z^2 {np.mean(zs**2):.2f} (1 expected); "
          f"load {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
