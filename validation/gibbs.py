"""Gibbs sampling with data augmentation for bayesgmm's Gaussian mixture: a reference sampler.

Validation code, independent of the package's samplers (numpy/scipy only; the
package does not import it, and it imports nothing of the package's model or
density: it is checked *against* them in ``tests/test_gibbs_reference.py``).

The model (``bayesgmm.build_model`` with ``covariance_type="full"`` or ``"diag"``
and default or user ``Priors``), with ``m``, ``s`` the per-feature mean and
sample sd (``ddof=1``) of the data::

    w            ~ Dirichlet(alpha)                                  (K,)
    mu[k, d]     ~ Normal(mean_loc[d], mean_sd[d]),  mean_sd = mean_scale * s
    full:  Sigma_k = diag(sd_k) C_k diag(sd_k),  sd_k[d] ~ HalfNormal(sd_sigma[d]),
           sd_sigma = sd_scale * s,  C_k ~ LKJ(eta)       (D = 1: sd_k ~ HalfNormal)
    diag:  Sigma_k = diag(sd_k^2),  sd_k[d] ~ HalfNormal(sd_sigma[d])
    x_n | z_n = k ~ Normal(mu_k, Sigma_k),  P(z_n = k) = w_k

One sweep (all conditionals exact except the covariances'):

1. ``z_n | theta``: categorical, probabilities ``w_k N(x_n | mu_k, Sigma_k)``
   (Gumbel-max on the log scale, all points and components at once);
2. ``w | z ~ Dirichlet(alpha + n)``;
3. ``mu_k | z, Sigma_k``: Gaussian (independent Normal prior per coordinate,
   conjugate);
4. ``Sigma_k | z, mu_k``: the prior is not conjugate, so a cycle of Metropolis-
   Hastings kernels, each leaving the conditional invariant, on the sufficient
   statistics ``n_k`` and ``S_k = sum_{z_n = k} (x_n - mu_k)(x_n - mu_k)^T``
   (cost ``O(K D^3)``, not ``O(N)``):

   * an independence proposal from the likelihood's inverse-Wishart
     ``IW(n_k - D - 1, S_k)`` (when ``n_k > 2 D``; it is proportional to the
     likelihood in ``Sigma``, so the acceptance ratio is the prior ratio;
     ``diag``: inverse-gamma per variance);
   * an independence proposal from the prior (acceptance: the likelihood ratio;
     with ``n_k = 0`` it is always accepted: an exact prior draw);
   * ``n_rw`` random-walk steps in the unconstrained coordinates of the
     package (packed Cholesky factor with log-diagonal for ``full``, ``log sd``
     for ``diag``), with the Jacobian, and step sizes set from ``n_k`` and
     ``S_k`` only (the conditioning variables, so the proposal stays symmetric).

The unconstrained log prior of the covariance is derived here from the
definitions, not from the package: ``log HalfNormal(sd) + log LKJ(C)`` minus the
log-Jacobian of ``(sd, C) -> Sigma`` (``D log 2 + D sum log sd``) plus that of
``u -> L -> Sigma`` (``D log 2 + sum_i (D - i + 1) log L_ii + sum_i log L_ii``).

Command line (``--case a``: the data of ``benchmarks/hard_posteriors.py``)::

    python validation/gibbs.py --case a --chains 4 --sweeps 50000 --seed 0

prints, per chain and pooled, the fraction of draws in each mode of the smallest
weight (the benchmark's ``modes_and_cuts`` and ``fractions``), and R-hat of
label-invariant quantities.
"""

from __future__ import annotations

import math
import time

import numpy as np
from scipy.special import betaln, gammaln

_LOG_2PI = math.log(2.0 * math.pi)
_HN_CONST = 0.5 * math.log(2.0 / math.pi)


# --------------------------------------------------------------------- priors
class GibbsPriors:
    """Resolved hyper-parameters (the package's ``Priors`` defaults, resolved here).

    Any object with the attributes ``weights_alpha`` (K,), ``mean_loc`` (D,),
    ``mean_sd`` (D,), ``sd_sigma`` (D,), ``lkj_eta`` may be passed instead
    (e.g. a ``bayesgmm.priors.ResolvedPriors``).
    """

    def __init__(self, X, K, weights_alpha=1.0, mean_scale=2.0, sd_scale=1.0, lkj_eta=2.0, mean_loc=None):
        X = np.asarray(X, dtype=float)
        m = X.mean(axis=0)
        s = X.std(axis=0, ddof=1)
        self.weights_alpha = np.broadcast_to(np.asarray(weights_alpha, float), (K,)).copy()
        self.mean_loc = m.copy() if mean_loc is None else np.broadcast_to(np.asarray(mean_loc, float), m.shape).copy()
        self.mean_sd = np.asarray(mean_scale, float) * s
        self.sd_sigma = np.asarray(sd_scale, float) * s
        self.lkj_eta = float(lkj_eta)


def lkj_log_normaliser(eta, D):
    """``log`` of the integral of ``det(C)^(eta - 1)`` over ``D x D`` correlation matrices.

    Lewandowski, Kurowicka & Joe (2009), eq. 16:
    ``c = 2^{sum_k (2 eta - 2 + D - k)(D - k)} prod_k B(eta + (D - k - 1)/2, same)^(D - k)``,
    ``k = 1..D-1``.
    """
    k = np.arange(1, D)
    b = eta + (D - k - 1) / 2.0
    return float(np.sum((2 * eta - 2 + D - k) * (D - k)) * math.log(2.0) + np.sum((D - k) * betaln(b, b)))


def lkj_corr_cholesky_draw(rng, eta, D, size):
    """``size`` Cholesky factors of LKJ(eta) correlation matrices (C-vine: canonical
    partial correlations ``2 Beta(b_j, b_j) - 1``, ``b_j = eta + (D - 2 - j) / 2`` at level j)."""
    L = np.zeros((size, D, D))
    L[:, 0, 0] = 1.0
    for i in range(1, D):
        ss = np.zeros(size)
        for j in range(i):
            b = eta + (D - 2 - j) / 2.0
            cpc = 2.0 * rng.beta(b, b, size=size) - 1.0
            L[:, i, j] = cpc * np.sqrt(1.0 - ss)
            ss = ss + L[:, i, j] ** 2
        L[:, i, i] = np.sqrt(np.clip(1.0 - ss, 0.0, None))
    return L


def _logdiag(L):
    return np.log(np.diagonal(L, axis1=-2, axis2=-1))


# ------------------------------------------------------------ the covariances
class _Full:
    """Full covariances: unconstrained ``u`` = packed rows of ``L`` with log-diagonal."""

    name = "full"

    def __init__(self, D, pri):
        self.D = D
        self.rows, self.cols = np.tril_indices(D)
        self.diag = self.rows == self.cols
        self.P = self.rows.size
        self.sig = np.asarray(pri.sd_sigma, float)
        self.eta = pri.lkj_eta
        self.lkj_c = lkj_log_normaliser(self.eta, D) if D > 1 else 0.0

    def chol(self, u):  # u (..., P) -> L (..., D, D)
        L = np.zeros(u.shape[:-1] + (self.D, self.D))
        L[..., self.rows, self.cols] = u
        d = np.arange(self.D)
        L[..., d, d] = np.exp(u[..., self.diag])
        return L

    def unconstrained(self, L):
        u = L[..., self.rows, self.cols].copy()
        u[..., self.diag] = np.log(u[..., self.diag])
        return u

    def log_prior_sigma(self, L):
        """Log prior density of ``Sigma = L L^T`` (Lebesgue on its lower triangle), (...,)."""
        D = self.D
        Sig = L @ np.swapaxes(L, -1, -2)
        sd = np.sqrt(np.diagonal(Sig, axis1=-2, axis2=-1))
        lhn = np.sum(_HN_CONST - np.log(self.sig) - 0.5 * (sd / self.sig) ** 2, axis=-1)
        if D > 1:
            logdet_c = 2.0 * _logdiag(L).sum(-1) - 2.0 * np.log(sd).sum(-1)
            llkj = (self.eta - 1.0) * logdet_c - self.lkj_c
        else:
            llkj = 0.0
        # Jacobian of (sd, C_offdiag) -> Sigma: prod 2 sd_i * prod_{i<j} sd_i sd_j
        return lhn + llkj - D * math.log(2.0) - D * np.log(sd).sum(-1)

    def log_jac_u(self, L):
        """log |d Sigma / d u|: ``D log 2 + sum_i (D - i + 2) log L_ii`` (i from 1)."""
        D = self.D
        return D * math.log(2.0) + (_logdiag(L) * (D - np.arange(D) + 1)).sum(-1)

    def log_prior_u(self, u):
        L = self.chol(u)
        return self.log_prior_sigma(L) + self.log_jac_u(L)

    def draw_prior(self, rng, size):
        sd = np.abs(rng.standard_normal((size, self.D))) * self.sig
        Lc = lkj_corr_cholesky_draw(rng, self.eta, self.D, size)
        return sd[:, :, None] * Lc  # chol of diag(sd) C diag(sd)

    def draw_likelihood(self, rng, n, S):
        """``Sigma_k ~ IW(n_k - D - 1, S_k)`` (density proportional to the likelihood);
        ``n`` (m,), ``S`` (m, D, D); returns the factors L (m, D, D)."""
        D = self.D
        m = n.shape[0]
        nu = n - D - 1.0
        # Bartlett: W = Lw A A^T Lw^T ~ Wishart(nu, S^-1); Sigma = W^-1
        A = np.tril(rng.standard_normal((m, D, D)), -1)
        d = np.arange(D)
        A[:, d, d] = np.sqrt(rng.chisquare(nu[:, None] - d[None, :]))
        Lw = np.linalg.cholesky(np.linalg.inv(S))
        B = Lw @ A  # W = B B^T, Sigma = B^-T B^-1
        Binv = np.linalg.inv(B)
        return np.linalg.cholesky(np.swapaxes(Binv, -1, -2) @ Binv)

    def likelihood_ok(self, n, S):
        """(K,) bool: ``n_k > 2 D`` and ``S_k`` positive definite (IW(n_k - D - 1, S_k) proper)."""
        ev = np.linalg.eigvalsh(S)
        return (n > 2 * self.D) & (ev[:, 0] > 1e-12 * np.abs(ev[:, -1]))

    def rw_scales(self, n, Shat):
        """Random-walk step sizes (K, P) per packed coordinate from ``n`` (K,) and ``Shat`` (K, D, D)."""
        sdh = np.sqrt(np.diagonal(Shat, axis1=-2, axis2=-1))
        sc = sdh[:, self.rows] / np.sqrt(n + 2.0)[:, None]
        sc[:, self.diag] = (1.0 / np.sqrt(2.0 * (n + 2.0)))[:, None]
        return sc * 2.38 / math.sqrt(self.P) * 0.8


class _Diag:
    """Diagonal covariances: unconstrained ``u = log sd``."""

    name = "diag"

    def __init__(self, D, pri):
        self.D = D
        self.P = D
        self.sig = np.asarray(pri.sd_sigma, float)

    def chol(self, u):
        L = np.zeros(u.shape[:-1] + (self.D, self.D))
        d = np.arange(self.D)
        L[..., d, d] = np.exp(u)
        return L

    def unconstrained(self, L):
        return _logdiag(L).copy()

    def log_prior_sigma(self, L):  # density of the variances v = sd^2: HN(sd) / (2 sd)
        sd = np.diagonal(L, axis1=-2, axis2=-1)
        return np.sum(_HN_CONST - np.log(self.sig) - 0.5 * (sd / self.sig) ** 2 - math.log(2.0) - np.log(sd), -1)

    def log_jac_u(self, L):  # dv/du = 2 sd^2
        return np.sum(math.log(2.0) + 2.0 * _logdiag(L), -1)

    def log_prior_u(self, u):
        L = self.chol(u)
        return self.log_prior_sigma(L) + self.log_jac_u(L)

    def draw_prior(self, rng, size):
        sd = np.abs(rng.standard_normal((size, self.D))) * self.sig
        return self.chol(np.log(sd))

    def draw_likelihood(self, rng, n, S):
        """Each variance ``~ InvGamma(n_k/2 - 1, S_k,dd / 2)`` (proportional to its likelihood)."""
        Sd = np.diagonal(S, axis1=-2, axis2=-1)
        v = (Sd / 2.0) / rng.gamma((n / 2.0 - 1.0)[:, None], size=Sd.shape)
        return self.chol(0.5 * np.log(v))

    def likelihood_ok(self, n, S):
        return (n > 2) & np.all(np.diagonal(S, axis1=-2, axis2=-1) > 0, axis=-1)

    def rw_scales(self, n, Shat):
        return np.repeat((2.38 / math.sqrt(self.D) * 0.8 / np.sqrt(2.0 * (n + 2.0)))[:, None], self.D, axis=1)


def cov_loglik(L, n, S):
    """``sum_{n in k} log N(x_n | mu, L L^T)`` from ``n`` and the scatter ``S`` about ``mu``."""
    D = L.shape[-1]
    A = np.linalg.inv(L)
    tr = np.sum((A @ S) * A, axis=(-2, -1))  # tr(A S A^T)
    return -0.5 * n * D * _LOG_2PI - n * _logdiag(L).sum(-1) - 0.5 * tr


# ------------------------------------------------------------------- sampler
class GibbsGMM:
    """Gibbs sampler with data augmentation for the package's mixture model.

    Parameters
    ----------
    X : (N, D) data.  K : components.  covariance_type : "full" or "diag".
    priors : GibbsPriors (default: the package's defaults resolved on X) or any
        object with the same attributes (e.g. ``bayesgmm.priors.ResolvedPriors``).
    n_rw : random-walk Metropolis steps per covariance per sweep.
    """

    def __init__(self, X, K, covariance_type="full", priors=None, n_rw=4):
        self.X = np.ascontiguousarray(X, dtype=float)
        self.N, self.D = self.X.shape
        self.K = int(K)
        self.pri = GibbsPriors(self.X, self.K) if priors is None else priors
        self.cov = {"full": _Full, "diag": _Diag}[covariance_type](self.D, self.pri)
        self.n_rw = int(n_rw)
        self.shift = self.X.mean(axis=0)
        self.Xc = self.X - self.shift
        self.accept = np.zeros(3)  # likelihood-IW, prior, random-walk acceptances
        self.tries = np.zeros(3)

    # --- densities (used by the tests; the sweep uses the same pieces)
    def log_component_densities(self, w, mu, L):
        """(N, K): ``log w_k + log N(x_n | mu_k, L_k L_k^T)``."""
        A = np.linalg.inv(L)  # (K, D, D)
        diff = self.X[None, :, :] - mu[:, None, :]  # (K, N, D)
        y = diff @ np.swapaxes(A, -1, -2)  # rows A_k (x_n - mu_k)
        with np.errstate(divide="ignore"):
            lw = np.log(w)
        return lw - 0.5 * self.D * _LOG_2PI - _logdiag(L).sum(-1) - 0.5 * np.sum(y * y, axis=-1).T

    def log_prior_theta(self, w, mu, u):
        """Log prior of (w on the simplex's first K-1 coordinates, mu, u unconstrained)."""
        a = self.pri.weights_alpha
        lp = gammaln(a.sum()) - gammaln(a).sum() + float(np.sum((a - 1.0) * np.log(w)))
        dm = (mu - self.pri.mean_loc) / self.pri.mean_sd
        lp += float(np.sum(-0.5 * dm * dm - 0.5 * _LOG_2PI - np.log(self.pri.mean_sd)))
        lp += float(np.sum(self.cov.log_prior_u(u)))
        return lp

    def log_joint_augmented(self, w, mu, u, z):
        """``log p(theta) + sum_n [log w_{z_n} + log N(x_n | theta_{z_n})]`` (theta as in log_prior_theta)."""
        ld = self.log_component_densities(w, mu, self.cov.chol(u))
        return self.log_prior_theta(w, mu, u) + float(ld[np.arange(self.N), z].sum())

    # --- the conditionals
    def _stats(self, z, mu):
        K, D = self.K, self.D
        n = np.bincount(z, minlength=K).astype(float)
        s1 = np.zeros((K, D))
        np.add.at(s1, z, self.Xc)
        M2 = np.zeros((K, D, D))
        for k in range(K):  # K small: one BLAS product per component
            xk = self.Xc[z == k]
            M2[k] = xk.T @ xk
        return n, s1, M2

    @staticmethod
    def _scatter(n, s1, M2, m):  # scatter about m (centred coordinates)
        return M2 - s1[:, :, None] * m[:, None, :] - m[:, :, None] * s1[:, None, :] + n[:, None, None] * m[:, :, None] * m[:, None, :]

    def draw_z(self, rng, w, mu, L):
        ld = self.log_component_densities(w, mu, L)
        mx = ld.max(axis=1, keepdims=True)
        ll = float(np.sum(np.log(np.exp(ld - mx).sum(axis=1)) + mx[:, 0]))
        g = -np.log(-np.log(rng.random(ld.shape)))
        return np.argmax(ld + g, axis=1), ll

    def draw_w(self, rng, n):
        a = self.pri.weights_alpha + n
        # log-Gamma draws (stable for a < 1): log G(a) = log G(a + 1) + log(U) / a
        lg = np.log(rng.gamma(a + 1.0)) + np.log(rng.random(a.size)) / a
        lg -= lg.max()
        e = np.exp(lg)
        return e / e.sum()

    def draw_mu(self, rng, n, s1, L):
        K, D = self.K, self.D
        pri = self.pri
        m0 = pri.mean_loc - self.shift
        p0 = 1.0 / pri.mean_sd**2
        mu = np.empty((K, D))
        for k in range(K):
            Sig = L[k] @ L[k].T
            Pk = np.linalg.inv(Sig)
            prec = np.diag(p0) + n[k] * Pk
            b = p0 * m0 + Pk @ s1[k]
            Lp = np.linalg.cholesky(prec)
            mean = np.linalg.solve(prec, b)
            mu[k] = mean + np.linalg.solve(Lp.T, rng.standard_normal(D))
        return mu + self.shift

    def draw_cov(self, rng, n, S, L):
        """The cycle of Metropolis-Hastings kernels for all components at once (each
        component's acceptances are independent).  With ``n_k = 0`` the prior
        proposal is always accepted (an exact prior draw) and the random walk
        targets the prior."""
        cv = self.cov
        K = self.K
        L = L.copy()
        cur_lp = cv.log_prior_sigma(L)
        cur_ll = cov_loglik(L, n, S)
        # (a) likelihood-shaped independence proposal: accept on the prior ratio
        ok = cv.likelihood_ok(n, S)
        if ok.any():
            idx = np.flatnonzero(ok)
            Lp = cv.draw_likelihood(rng, n[idx], S[idx])
            lp = cv.log_prior_sigma(Lp)
            acc = np.log(rng.random(idx.size)) < lp - cur_lp[idx]
            self.tries[0] += idx.size
            self.accept[0] += acc.sum()
            a = idx[acc]
            L[a], cur_lp[a] = Lp[acc], lp[acc]
            cur_ll[a] = cov_loglik(L[a], n[a], S[a])
        # (b) prior independence proposal: accept on the likelihood ratio
        Lp = cv.draw_prior(rng, K)
        ll = cov_loglik(Lp, n, S)
        acc = np.log(rng.random(K)) < ll - cur_ll
        self.tries[1] += K
        self.accept[1] += acc.sum()
        L[acc], cur_lp[acc], cur_ll[acc] = Lp[acc], cv.log_prior_sigma(Lp[acc]), ll[acc]
        # (c) random walk in the unconstrained coordinates (with the Jacobian); step
        # sizes from n_k and S_k only
        Shat = (S + np.diag(cv.sig**2)) / (n + 1.0)[:, None, None]
        sc = cv.rw_scales(n, Shat)  # (K, P)
        u = cv.unconstrained(L)
        cur = cur_lp + cv.log_jac_u(L) + cur_ll
        for _ in range(self.n_rw):
            up = u + sc * rng.standard_normal(u.shape)
            new = cv.log_prior_u(up) + cov_loglik(cv.chol(up), n, S)
            acc = np.log(rng.random(K)) < new - cur
            u[acc], cur[acc] = up[acc], new[acc]
            self.tries[2] += K
            self.accept[2] += acc.sum()
        return cv.chol(u)

    def sweep(self, rng, state):
        w, mu, L = state
        z, ll = self.draw_z(rng, w, mu, L)
        n, s1, M2 = self._stats(z, mu)
        w = self.draw_w(rng, n)
        mu = self.draw_mu(rng, n, s1, L)
        S = self._scatter(n, s1, M2, mu - self.shift)
        L = self.draw_cov(rng, n, S, L)
        return (w, mu, L), z, ll

    def initial_state(self, rng, kind="prior"):
        """A start: ``"prior"`` (theta drawn from the prior, weights uniform) or
        ``"random_z"`` (random memberships, then one pass of the conditionals)."""
        K = self.K
        if kind == "prior":
            mu = self.pri.mean_loc + self.pri.mean_sd * rng.standard_normal((K, self.D))
            return np.full(K, 1.0 / K), mu, self.cov.draw_prior(rng, K)
        z = rng.integers(0, K, size=self.N)
        L = self.cov.draw_prior(rng, K)
        n, s1, M2 = self._stats(z, np.zeros((K, self.D)) + self.shift)
        mu = self.draw_mu(rng, n, s1, L)
        L = self.draw_cov(rng, n, self._scatter(n, s1, M2, mu - self.shift), L)
        return self.draw_w(rng, n), mu, L

    def run(self, rng, sweeps, state, thin=1, burn=0):
        """``sweeps`` sweeps after ``burn``; keeps every ``thin``-th draw.

        Returns a dict of arrays: ``weights`` (S, K), ``means`` (S, K, D),
        ``chol`` (S, K, D, D), ``loglik`` (S,) the observed-data log-likelihood
        of each kept draw, and the final state.
        """
        keep = sweeps // thin
        W = np.empty((keep, self.K))
        M = np.empty((keep, self.K, self.D))
        C = np.empty((keep, self.K, self.D, self.D))
        LL = np.empty(keep)
        for _ in range(burn):
            state, _, _ = self.sweep(rng, state)
        j = 0
        pending = None
        for t in range(sweeps):
            state, _, ll = self.sweep(rng, state)
            if pending is not None:  # ll is the log-likelihood of the previous sweep's theta
                LL[pending] = ll
                pending = None
            if (t + 1) % thin == 0:
                W[j], M[j], C[j] = state
                pending = j
                j += 1
        if pending is not None:
            _, LL[pending] = self.draw_z(rng, *state)
        return dict(weights=W, means=M, chol=C, loglik=LL, state=state)


# ---------------------------------------------------------------- diagnostics
def split_rhat(x):
    """Rank-normalised split R-hat (Vehtari et al. 2021), max of bulk and folded; x (chains, draws)."""
    from scipy.stats import norm, rankdata

    x = np.asarray(x, dtype=float)
    n = x.shape[1]
    h = n // 2
    xs = np.concatenate([x[:, :h], x[:, n - h:]], axis=0)

    def rh(y):
        r = rankdata(y, method="average").reshape(y.shape)
        z = norm.ppf((r - 0.375) / (r.size + 0.25))
        m = z.shape[1]
        B = m * z.mean(axis=1).var(ddof=1)
        Wv = z.var(axis=1, ddof=1).mean()
        return math.sqrt(((m - 1) / m * Wv + B / m) / Wv)

    return max(rh(xs), rh(np.abs(xs - np.median(xs))))


def bulk_ess(x):
    """Bulk ESS (arviz-stats, rank-normalised) of x (chains, draws); NaN without arviz-stats."""
    try:
        import arviz_stats as azs
    except ImportError:  # pragma: no cover
        return float("nan")
    return float(azs.ess(np.asarray(x, dtype=float), method="bulk", chain_axis=0, draw_axis=1))


def transitions(w, lo=0.05, hi=0.15):
    """Number of moves between ``w < lo`` and ``w > hi`` (a hysteresis count of mode switches)."""
    state, n = None, 0
    for v in w:
        s = 0 if v < lo else (1 if v > hi else None)
        if s is not None:
            n += state is not None and s != state
            state = s
    return n


def label_invariant(draws):
    """Label-invariant summaries per draw: sorted weights, log-likelihood, sorted first mean coordinate."""
    w = np.sort(draws["weights"], axis=-1)
    m0 = np.sort(draws["means"][..., 0], axis=-1)
    out = {f"w_sorted[{i}]": w[:, i] for i in range(w.shape[1])}
    out["loglik"] = draws["loglik"]
    out.update({f"mean_x0_sorted[{i}]": m0[:, i] for i in range(m0.shape[1])})
    return out


# --------------------------------------------------------------------- CLI
def _starts(g, rng, c):
    return g.initial_state(rng, "prior" if c % 2 == 0 else "random_z")


def reference(case, chains=4, sweeps=20000, burn=1000, thin=1, seed=0, data_seed=0, quiet=False):
    """Gibbs reference for a case of ``benchmarks/hard_posteriors.py``: per chain the
    smallest weight per draw and the label-invariant summaries; returns a dict."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "benchmarks"))
    import hard_posteriors as hp

    X, K = hp.make_data(case, seed=data_seed)
    g = GibbsGMM(X, K, "full")
    res = []
    times = []
    for c in range(chains):
        rng = np.random.default_rng([seed, c])
        t = time.perf_counter()
        d = g.run(rng, sweeps, _starts(g, rng, c), thin=thin, burn=burn)
        times.append(time.perf_counter() - t)
        res.append(d)
        if not quiet:
            wmin = np.sort(d["weights"], axis=-1)[:, 0]
            print(f"  chain {c}: {times[-1]:.1f} s ({1e3 * times[-1] / (sweeps + burn):.2f} ms/sweep), "
                  f"smallest weight mean {wmin.mean():.4f}, P(< 0.05) {np.mean(wmin < 0.05):.3f}, "
                  f"load {os.getloadavg()[0]:.2f}", flush=True)
    wmins = [np.sort(d["weights"], axis=-1)[:, 0] for d in res]
    pooled = np.concatenate(wmins)
    modes, cuts = hp.modes_and_cuts(pooled)
    per = np.array([hp.fractions(w, cuts) for w in wmins])
    inv = [label_invariant(d) for d in res]
    rhat = {k: split_rhat(np.stack([i[k] for i in inv])) for k in inv[0]}
    ess = {k: bulk_ess(np.stack([i[k] for i in inv])) for k in inv[0]}
    acc = g.accept / np.maximum(g.tries, 1)
    return dict(X=X, K=K, wmin=wmins, pooled=pooled, modes=modes, cuts=cuts, fractions=hp.fractions(pooled, cuts),
                per_chain=per, spread=float(np.max(np.ptp(per, axis=0))) if len(per) > 1 else float("nan"),
                rhat=rhat, ess=ess, times=times, acceptance=acc, draws=res)


def main(argv=None):
    import argparse
    import os
    import subprocess

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--case", default="a", choices=["a", "b", "c"])
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--sweeps", type=int, default=20000)
    p.add_argument("--burn", type=int, default=1000)
    p.add_argument("--thin", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-seed", type=int, default=0)
    p.add_argument("--save", default=None, help="write the per-chain label-invariant draws to this .npz")
    a = p.parse_args(argv)
    here = os.path.dirname(os.path.abspath(__file__))
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = "?"
    print(f"gibbs reference: {vars(a)}, code {commit}, load {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    t = time.perf_counter()
    r = reference(a.case, a.chains, a.sweeps, a.burn, a.thin, a.seed, a.data_seed)
    el = time.perf_counter() - t
    print(f"case {a.case}: N={len(r['X'])}, K={r['K']}; {a.chains} chains x ({a.burn} burn + {a.sweeps} sweeps, "
          f"thin {a.thin}); wall {el:.0f} s, {1e3 * sum(r['times']) / (a.chains * (a.sweeps + a.burn)):.2f} ms/sweep")
    print(f"  covariance MH acceptance: likelihood-IW {r['acceptance'][0]:.2f}, prior {r['acceptance'][1]:.3f}, "
          f"random walk {r['acceptance'][2]:.2f}")
    print(f"  smallest-weight modes {np.round(r['modes'], 3).tolist()}, cuts {np.round(r['cuts'], 3).tolist()}")
    print(f"  pooled fractions {np.round(r['fractions'], 3).tolist()}")
    for c, f in enumerate(r["per_chain"]):
        print(f"  chain {c} fractions {np.round(f, 3).tolist()}")
    print(f"  max spread between chains {r['spread']:.3f} (agree within 0.03: {r['spread'] <= 0.03})")
    W = np.stack(r["wmin"])
    below = (W < 0.05).astype(float)
    e_below = bulk_ess(below)
    print(f"  fixed cut 0.05 (as --long-nuts): P(smallest weight < 0.05) pooled {below.mean():.3f} "
          f"(MCSE {below.std() / np.sqrt(e_below):.3f}, ESS {e_below:.0f}); per chain "
          f"{np.round(below.mean(axis=1), 3).tolist()} (spread {np.ptp(below.mean(axis=1)):.3f}, "
          f"R-hat {split_rhat(below):.4f})")
    for c, w in enumerate(r["wmin"]):
        print(f"  chain {c}: mean smallest weight {w.mean():.4f}, P(< 0.05) {np.mean(w < 0.05):.3f}, "
              f"P(> 0.15) {np.mean(w > 0.15):.3f}, switches between < 0.05 and > 0.15: {transitions(w)}")
    hi = float(np.quantile(r["pooled"], 0.999))
    h, _ = np.histogram(r["pooled"], bins=20, range=(0.0, hi))
    print(f"  histogram of the pooled smallest weight on [0, {hi:.3f}] (20 bins, fraction per bin): "
          f"{np.round(h / h.sum(), 3).tolist()}")
    print("  split R-hat (rank-normalised, folded): " + ", ".join(f"{k} {v:.4f}" for k, v in r["rhat"].items()))
    print("  bulk ESS: " + ", ".join(f"{k} {v:.0f}" for k, v in r["ess"].items()))
    if a.save:
        inv = [label_invariant(d) for d in r["draws"]]
        np.savez_compressed(a.save, **{k: np.stack([i[k] for i in inv]) for k in inv[0]})
    print(f"  load at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
