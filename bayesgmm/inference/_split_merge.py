"""A data-driven split-merge Metropolis-Hastings move for the Gibbs sampler.

The move acts on the joint state ``(z, theta)`` with the weights integrated out: its
target is exactly the one of the Gibbs sweep's allocation step (Dirichlet-multinomial
prior of the allocations times the priors of the means and covariance factors times
the Gaussian likelihood, raised to ``beta``, of the values the sweep uses: the latent
unrounded ones when the data are modelled as rounded).

Split (probability 1/2): an occupied component ``i`` and an empty one ``j``, uniformly.
From the points of ``i`` alone (the set ``S``, in index order) a deterministic
two-component EM (start: the split of ``S`` along its principal axis, the side with the
positive projection ``a``; a fixed number of iterations) gives two Gaussians ``a, b``
with weights ``pi_a, pi_b``. For each, a proposal of the component's parameters: the
covariance factor's unconstrained coordinates ``u ~ N(u_hat, s^2 H^-1)`` (``u_hat`` the
mode, ``H`` the negative Hessian there, of the covariance factor's conditional given
the EM's weighted statistics, found by Newton steps with the analytic gradient and a
finite-difference Hessian), then the mean from its conjugate conditional given ``u``
and the weighted statistics. ``theta_i' ~ q_a``, ``theta_j' ~ q_b``, and each point of
``S`` goes to ``i`` or ``j`` independently with probability proportional to
``pi N(x | theta')^beta``. Rejected if either side ends up empty.

Merge (probability 1/2): an ordered pair ``(i, j)`` of occupied components, uniformly.
All points of ``j`` go to ``i``; ``theta_i' ~ q_S`` (the proposal above built from the
union ``S`` with its plain statistics), ``theta_j'`` from the prior (an empty component).

The acceptance probability is the target ratio times reverse over forward proposal
densities, with every term: the choice of the move and of the components, the
parameter proposals, the allocation proposal, the empty component's prior draw (the
normalised priors enter, since a split has one more occupied component than its
merge). Everything deterministic depends only on the set ``S`` (its points in index
order), never on the current parameters, so the reverse move's density is computable.

Covariance types with one factor per component only (``full``, ``diag``,
``spherical``). The covariance moves' floor on the Cholesky diagonal (``_SD_FLOOR``) is
respected: a proposal below it is rejected (the priors are treated as normalised over
the unrestricted space; the floor's prior mass is ~1e-6).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from bayesgmm.covariance._compiled import chol_from_unconstrained, log_prior_and_grad

__all__ = ["cov_prior_constant", "split_merge_move"]

_LOG_2PI = math.log(2.0 * math.pi)
_HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)
#: EM iterations of the split proposal and Newton iterations of the Laplace approximation.
_EM_ITER = 25
_NEWTON_ITER = 8
_FD_H = 1e-5

_njit = numba.njit(cache=True, nogil=True, error_model="numpy")


def cov_prior_constant(kind, params, n_features):
    """Log normalising constant of one covariance factor's prior (the compiled block's log
    prior omits it): LKJ and half-normal normalisers (kind 0), half-normals (kind 1)."""
    from bayesgmm.covariance._blocks import lkj_log_norm

    params = np.asarray(params, dtype=np.float64)
    if kind == 0:
        return float(lkj_log_norm(params[0], n_features) + np.sum(_HALFNORMAL_CONST - 0.5 * np.log(params[1:])))
    return float(np.sum(_HALFNORMAL_CONST - 0.5 * np.log(params)))


# ------------------------------------------------------------------ small linear algebra
@_njit
def _chol(P, R):
    """``P = R R^T`` (R lower); False if ``P`` is not positive definite."""
    n = P.shape[0]
    R[:] = 0.0
    for i in range(n):
        for j in range(i + 1):
            s = P[i, j]
            for l in range(j):
                s -= R[i, l] * R[j, l]
            if i == j:
                if not (s > 0.0) or not np.isfinite(s):
                    return False
                R[i, i] = math.sqrt(s)
            else:
                R[i, j] = s / R[j, j]
    return True


@_njit
def _chol_solve(R, b, y, out):
    """``out = (R R^T)^-1 b`` (``R`` lower triangular) by two triangular solves; ``y`` scratch."""
    n = b.shape[0]
    for i in range(n):
        s = b[i]
        for l in range(i):
            s -= R[i, l] * y[l]
        y[i] = s / R[i, i]
    for i in range(n - 1, -1, -1):
        s = y[i]
        for l in range(i + 1, n):
            s -= R[l, i] * out[l]
        out[i] = s / R[i, i]


@_njit
def _gauss_draw(rng, m, R, scale, out):
    """``out ~ N(m, scale^2 (R R^T)^-1)`` (``R R^T`` a precision); returns its log density."""
    n = m.shape[0]
    e = np.empty(n)
    for i in range(n):
        e[i] = rng.standard_normal()
    # R^T v = e  (upper triangular solve)
    v = np.empty(n)
    for i in range(n - 1, -1, -1):
        s = e[i]
        for l in range(i + 1, n):
            s -= R[l, i] * v[l]
        v[i] = s / R[i, i]
    lq = -0.5 * n * _LOG_2PI - n * math.log(scale)
    for i in range(n):
        out[i] = m[i] + scale * v[i]
        lq += math.log(R[i, i]) - 0.5 * e[i] * e[i]
    return lq


@_njit
def _gauss_logpdf(xv, m, R, scale):
    """Log density of ``N(m, scale^2 (R R^T)^-1)`` at ``xv``."""
    n = m.shape[0]
    lq = -0.5 * n * _LOG_2PI - n * math.log(scale)
    for i in range(n):
        t = 0.0
        for l in range(i, n):  # (R^T d)_i = sum_{l >= i} R_li d_l
            t += R[l, i] * (xv[l] - m[l])
        t /= scale
        lq += math.log(R[i, i]) - 0.5 * t * t
    return lq


@_njit
def _inv_lower(L, A):
    """``A = L^{-1}`` for lower triangular ``L`` (D, D), by forward substitution (also the Gibbs
    sampler's, :func:`bayesgmm.inference._gibbs._factors`)."""
    D = L.shape[0]
    A[:] = 0.0
    for i in range(D):
        A[i, i] = 1.0 / L[i, i]
        for j in range(i):
            t = 0.0
            for m in range(j, i):
                t += L[i, m] * A[m, j]
            A[i, j] = -t / L[i, i]


# ------------------------------------------------------------------ densities of one component
@_njit
def _factor_value_grad(kind, params, u, D, n, S, beta, g, L1, A1, dL1):
    """Log conditional of one covariance factor ``u`` given ``n`` and the scatter ``S`` about
    the mean (log prior without constant + ``beta (-n log|L| - tr(A S A^T)/2)``) and its
    gradient ``g``; ``-inf`` if not finite."""
    L1[:] = 0.0
    if not chol_from_unconstrained(kind, 1, params, u, L1):
        return -np.inf
    L = L1[0]
    A = A1[0]
    _inv_lower(L, A)
    logdet = 0.0
    for i in range(D):
        logdet += math.log(L[i, i])
    # M = A S A^T, G = A^T M (the likelihood's gradient in L: tril(G) - n diag(1/L_ii))
    T = np.empty((D, D))  # T = A S, M = T A^T
    M = np.empty((D, D))
    for i in range(D):
        for b in range(D):
            s = 0.0
            for a in range(i + 1):
                s += A[i, a] * S[a, b]
            T[i, b] = s
    for i in range(D):
        for j in range(D):
            s = 0.0
            for b in range(j + 1):
                s += T[i, b] * A[j, b]
            M[i, j] = s
    q = 0.0
    for i in range(D):
        q += M[i, i]
    dL1[:] = 0.0
    for i in range(D):
        for j in range(i + 1):
            s = 0.0
            for l in range(i, D):  # (A^T M)_ij = sum_l A_li M_lj
                s += A[l, i] * M[l, j]
            if i == j:
                s -= n / L[i, i]
            dL1[0, i, j] = beta * s
    lp = log_prior_and_grad(kind, 1, params, L1, dL1, g)
    lp += beta * (-n * logdet - 0.5 * q)
    if not np.isfinite(lp):
        return -np.inf
    for k in range(g.shape[0]):
        if not np.isfinite(g[k]):
            return -np.inf
    return lp


@_njit
def _laplace(kind, params, D, n, S, beta, u0, uhat, R):
    """Newton's method from ``u0`` on the factor's conditional (FD Hessian of the analytic
    gradient); ``uhat`` the end point, ``R`` lower with ``R R^T`` the negative Hessian there
    (ridged until positive definite). False if it fails (deterministically)."""
    pf = u0.shape[0]
    L1 = np.zeros((1, D, D))
    A1 = np.zeros((1, D, D))
    dL1 = np.zeros((1, D, D))
    g = np.empty(pf)
    gp = np.empty(pf)
    gm = np.empty(pf)
    H = np.empty((pf, pf))
    P = np.empty((pf, pf))
    ut = np.empty(pf)
    step = np.empty(pf)
    for k in range(pf):
        uhat[k] = u0[k]
    f = _factor_value_grad(kind, params, uhat, D, n, S, beta, g, L1, A1, dL1)
    if not np.isfinite(f):
        return False
    last = False
    for it in range(_NEWTON_ITER + 1):
        # negative Hessian by central differences of the gradient
        for j in range(pf):
            for k in range(pf):
                ut[k] = uhat[k]
            ut[j] = uhat[j] + _FD_H
            if not np.isfinite(_factor_value_grad(kind, params, ut, D, n, S, beta, gp, L1, A1, dL1)):
                return False
            ut[j] = uhat[j] - _FD_H
            if not np.isfinite(_factor_value_grad(kind, params, ut, D, n, S, beta, gm, L1, A1, dL1)):
                return False
            for k in range(pf):
                H[k, j] = -(gp[k] - gm[k]) / (2.0 * _FD_H)
        for j in range(pf):
            for k in range(j):
                v = 0.5 * (H[j, k] + H[k, j])
                H[j, k] = v
                H[k, j] = v
        ridge = 0.0
        ok = False
        for _ in range(60):
            for j in range(pf):
                for k in range(pf):
                    P[j, k] = H[j, k]
                P[j, j] += ridge
            if _chol(P, R):
                ok = True
                break
            mx = 1e-8
            for j in range(pf):
                mx = max(mx, abs(H[j, j]))
            ridge = 1e-6 * mx if ridge == 0.0 else ridge * 4.0
        if not ok:
            return False
        if it == _NEWTON_ITER or last:
            break
        _chol_solve(R, g, ut, step)  # Newton step: P step = g
        t = 1.0
        moved = False
        for _ in range(12):
            for k in range(pf):
                ut[k] = uhat[k] + t * step[k]
            fn = _factor_value_grad(kind, params, ut, D, n, S, beta, gp, L1, A1, dL1)
            if np.isfinite(fn) and fn >= f:
                moved = True
                break
            t *= 0.5
        if not moved:
            break
        mxs = 0.0
        for k in range(pf):
            mxs = max(mxs, abs(uhat[k] - ut[k]))
            uhat[k] = ut[k]
            g[k] = gp[k]
        f = fn
        if mxs < 1e-6:  # converged: one more pass for the Hessian at the end point
            last = True
    return True


@_njit
def _u_from_cov(kind, params, C, D, u):
    """The factor's unconstrained coordinates of the covariance ``C`` (kind 1: its diagonal;
    one shared sd: their mean variance). False if ``C`` is not positive definite."""
    if kind == 0:
        Lc = np.empty((D, D))
        if not _chol(C, Lc):
            return False
        p = 0
        for i in range(D):
            for j in range(i + 1):
                u[p] = math.log(Lc[i, i]) if i == j else Lc[i, j]
                p += 1
        return True
    E = params.shape[0]
    if E == D:
        for i in range(D):
            if not C[i, i] > 0.0:
                return False
            u[i] = 0.5 * math.log(C[i, i])
        return True
    s = 0.0
    for i in range(D):
        s += C[i, i]
    if not s > 0.0:
        return False
    u[0] = 0.5 * math.log(s / D)
    return True


@_njit
def _mean_conditional(Lk, D, n, xbar, beta, mean_loc, mean_sd, m, R):
    """The conjugate conditional of a mean given ``n`` points (weighted) with mean ``xbar`` and
    the factor ``Lk``: precision ``R R^T = D0^-1 + beta n Sigma^-1``, mean ``m``."""
    A = np.empty((D, D))
    _inv_lower(Lk, A)
    P = np.empty((D, D))
    b = np.empty(D)
    for i in range(D):
        for j in range(D):
            s = 0.0
            for l in range(max(i, j), D):
                s += A[l, i] * A[l, j]
            P[i, j] = beta * n * s
        P[i, i] += 1.0 / (mean_sd[i] * mean_sd[i])
    for i in range(D):
        s = mean_loc[i] / (mean_sd[i] * mean_sd[i])
        for j in range(D):
            s += (P[i, j] - (1.0 / (mean_sd[i] * mean_sd[i]) if i == j else 0.0)) * xbar[j]
        b[i] = s
    if not _chol(P, R):
        return False
    _chol_solve(R, b, np.empty(D), m)
    return True


@_njit
def _component_proposal(rng, draw, kind, params, D, n, xbar, S, C0, beta, mean_loc, mean_sd, scale, mu, u):
    """Draw (``draw``) or evaluate the proposal of one component's ``(mu, u)`` built from the
    statistics ``n, xbar, S`` (scatter about ``xbar``) and the covariance start ``C0``;
    returns its log density (``-inf``: no proposal)."""
    pf = u.shape[0]
    u0 = np.empty(pf)
    if not _u_from_cov(kind, params, C0, D, u0):
        return -np.inf
    uhat = np.empty(pf)
    Ru = np.empty((pf, pf))
    if not _laplace(kind, params, D, n, S, beta, u0, uhat, Ru):
        return -np.inf
    if draw:
        lq = _gauss_draw(rng, uhat, Ru, scale, u)
    else:
        lq = _gauss_logpdf(u, uhat, Ru, scale)
    L1 = np.zeros((1, D, D))
    if not chol_from_unconstrained(kind, 1, params, u, L1):
        return -np.inf
    m = np.empty(D)
    Rm = np.empty((D, D))
    if not _mean_conditional(L1[0], D, n, xbar, beta, mean_loc, mean_sd, m, Rm):
        return -np.inf
    if draw:
        lq += _gauss_draw(rng, m, Rm, scale, mu)
    else:
        lq += _gauss_logpdf(mu, m, Rm, scale)
    return lq


@_njit
def _log_prior_component(kind, params, cov_const, mean_loc, mean_sd, mu, u, D, floor):
    """Normalised log prior of one component's ``(mu, u)``; ``-inf`` below the sd floor."""
    L1 = np.zeros((1, D, D))
    if not chol_from_unconstrained(kind, 1, params, u, L1):
        return -np.inf
    for i in range(D):
        if L1[0, i, i] < floor[i]:
            return -np.inf
    dL1 = np.zeros((1, D, D))
    g = np.empty(u.shape[0])
    lp = log_prior_and_grad(kind, 1, params, L1, dL1, g) + cov_const
    for i in range(D):
        t = (mu[i] - mean_loc[i]) / mean_sd[i]
        lp += -0.5 * _LOG_2PI - math.log(mean_sd[i]) - 0.5 * t * t
    return lp if np.isfinite(lp) else -np.inf


@_njit
def _prior_draw(rng, kind, params, mean_loc, mean_sd, D, mu, u):
    """``(mu, u)`` from the prior: normal means; LKJ (C-vine) times half-normal sds, or
    half-normal sds (kind 1)."""
    for i in range(D):
        mu[i] = mean_loc[i] + mean_sd[i] * rng.standard_normal()
    if kind == 0:
        eta = params[0]
        Lc = np.zeros((D, D))
        Lc[0, 0] = 1.0
        for i in range(1, D):
            ss = 0.0
            for j in range(i):
                b = eta + (D - 2 - j) / 2.0
                cpc = 2.0 * rng.beta(b, b) - 1.0
                Lc[i, j] = cpc * math.sqrt(max(1.0 - ss, 0.0))
                ss += Lc[i, j] * Lc[i, j]
            Lc[i, i] = math.sqrt(max(1.0 - ss, 0.0))
        p = 0
        for i in range(D):
            sd = abs(math.sqrt(params[1 + i]) * rng.standard_normal())
            for j in range(i + 1):
                u[p] = math.log(sd * Lc[i, i]) if i == j else sd * Lc[i, j]
                p += 1
    else:
        for e in range(params.shape[0]):
            u[e] = math.log(abs(math.sqrt(params[e]) * rng.standard_normal()))


@_njit
def _loglik_point(x, mu, A, logdet, D):
    q = 0.0
    for i in range(D):
        t = 0.0
        for j in range(i + 1):
            t += A[i, j] * (x[j] - mu[j])
        q += t * t
    return -logdet - 0.5 * D * _LOG_2PI - 0.5 * q


# ------------------------------------------------------------------ the deterministic EM
@_njit
def _em2(X, idx, m, D, diag, floor, pis, means, covs, nw, scat):
    """Two-component EM on the points ``X[idx[:m]]`` from the split along the principal axis;
    ``pis, means, covs`` the fit, ``nw`` and ``scat`` its weighted counts and scatters (about
    the means). Deterministic in the set (stops after ``_EM_ITER`` iterations or when no
    responsibility moves by 1e-6). False if degenerate."""
    Y = np.empty((m, D))
    for a in range(m):
        for i in range(D):
            Y[a, i] = X[idx[a], i]
    mbar = np.zeros(D)
    for a in range(m):
        for i in range(D):
            mbar[i] += Y[a, i]
    for i in range(D):
        mbar[i] /= m
    C = np.zeros((D, D))
    for a in range(m):
        for i in range(D):
            for j in range(D):
                C[i, j] += (Y[a, i] - mbar[i]) * (Y[a, j] - mbar[j])
    for i in range(D):
        for j in range(D):
            C[i, j] /= m
    reg = np.empty(D)
    for i in range(D):
        reg[i] = 1e-4 * C[i, i] + floor[i] * floor[i] * 100.0
    # principal axis by power iteration from the sds
    v = np.empty(D)
    w = np.empty(D)
    for i in range(D):
        v[i] = math.sqrt(C[i, i]) + 1e-300
    for _ in range(100):
        nn = 0.0
        for i in range(D):
            s = 0.0
            for j in range(D):
                s += C[i, j] * v[j]
            w[i] = s
            nn += s * s
        nn = math.sqrt(nn)
        if not nn > 0.0:
            return False
        for i in range(D):
            v[i] = w[i] / nn
    r = np.empty(m)  # responsibility of the first component
    na = 0.0
    for a in range(m):
        s = 0.0
        for i in range(D):
            s += (Y[a, i] - mbar[i]) * v[i]
        r[a] = 1.0 if s > 0.0 else 0.0
        na += r[a]
    if na == 0.0 or na == m:
        return False
    Lk = np.empty((D, D))
    Ak = np.empty((2, D, D))
    c0 = np.empty(2)
    dv = np.empty(D)
    if not _em_mstep(Y, r, m, D, diag, reg, pis, means, covs, nw, scat, dv):
        return False
    for _ in range(_EM_ITER):
        # E-step
        for c in range(2):
            if not _chol(covs[c], Lk):
                return False
            _inv_lower(Lk, Ak[c])
            ld = 0.0
            for i in range(D):
                ld += math.log(Lk[i, i])
            c0[c] = math.log(pis[c]) - ld
        change = 0.0
        for a in range(m):
            q0 = 0.0
            q1 = 0.0
            for i in range(D):
                t0 = 0.0
                t1 = 0.0
                for j in range(i + 1):
                    t0 += Ak[0, i, j] * (Y[a, j] - means[0, j])
                    t1 += Ak[1, i, j] * (Y[a, j] - means[1, j])
                q0 += t0 * t0
                q1 += t1 * t1
            d = (c0[1] - 0.5 * q1) - (c0[0] - 0.5 * q0)  # log odds of the second component
            rn = 1.0 / (1.0 + math.exp(d)) if d < 700.0 else 0.0
            change = max(change, abs(rn - r[a]))
            r[a] = rn
        if not _em_mstep(Y, r, m, D, diag, reg, pis, means, covs, nw, scat, dv):
            return False
        if change < 1e-6:
            break
    return True


@_njit
def _em_mstep(Y, r, m, D, diag, reg, pis, means, covs, nw, scat, dv):
    """The M-step of :func:`_em2` (``r`` the first component's responsibilities)."""
    for c in range(2):
        s = 0.0
        for a in range(m):
            s += r[a] if c == 0 else 1.0 - r[a]
        nw[c] = s
        if not s > 1e-8:
            return False
        pis[c] = s / m
        for i in range(D):
            means[c, i] = 0.0
        for a in range(m):
            ra = r[a] if c == 0 else 1.0 - r[a]
            for i in range(D):
                means[c, i] += ra * Y[a, i]
        for i in range(D):
            means[c, i] /= s
        for i in range(D):
            for j in range(D):
                scat[c, i, j] = 0.0
        for a in range(m):
            ra = r[a] if c == 0 else 1.0 - r[a]
            for i in range(D):
                dv[i] = Y[a, i] - means[c, i]
            for i in range(D):
                t = ra * dv[i]
                for j in range(i + 1):
                    scat[c, i, j] += t * dv[j]
        for i in range(D):
            for j in range(i):
                scat[c, j, i] = scat[c, i, j]
        for i in range(D):
            for j in range(D):
                covs[c, i, j] = 0.0 if (diag and i != j) else scat[c, i, j] / s
            covs[c, i, i] += reg[i]
    return True


@_njit
def _set_stats(X, idx, m, D, diag, floor, xbar, S, C0):
    """Plain statistics of the set: mean, scatter about it, and the covariance start."""
    for i in range(D):
        t = 0.0
        for a in range(m):
            t += X[idx[a], i]
        xbar[i] = t / m
    S[:] = 0.0
    for a in range(m):
        for i in range(D):
            for j in range(D):
                S[i, j] += (X[idx[a], i] - xbar[i]) * (X[idx[a], j] - xbar[j])
    for i in range(D):
        for j in range(D):
            C0[i, j] = 0.0 if (diag and i != j) else S[i, j] / m
    for i in range(D):
        C0[i, i] += 1e-4 * S[i, i] / m + floor[i] * floor[i] * 100.0


@_njit
def _split_proposal_terms(rng, draw, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale, zs, i, j,
                          mu_i, u_i, mu_j, u_j):
    """The split of the set ``idx[:m]`` into ``i`` and ``j``: with ``draw``, draws
    ``(mu_i, u_i), (mu_j, u_j)`` and the allocations (written to ``zs``); else evaluates
    them at the given values and ``zs``. Returns the log proposal density (``-inf``: none)."""
    pis = np.empty(2)
    means = np.empty((2, D))
    covs = np.empty((2, D, D))
    nw = np.empty(2)
    scat = np.empty((2, D, D))
    if not _em2(X, idx, m, D, kind == 1, floor, pis, means, covs, nw, scat):
        return -np.inf
    lq = _component_proposal(rng, draw, kind, params, D, nw[0], means[0], scat[0], covs[0], beta, mean_loc,
                             mean_sd, scale, mu_i, u_i)
    if not np.isfinite(lq):
        return -np.inf
    lq2 = _component_proposal(rng, draw, kind, params, D, nw[1], means[1], scat[1], covs[1], beta, mean_loc,
                              mean_sd, scale, mu_j, u_j)
    if not np.isfinite(lq2):
        return -np.inf
    lq += lq2
    # allocations: independent, P(i) proportional to pi_a N(x | theta_i)^beta
    L1 = np.zeros((1, D, D))
    Ai = np.empty((D, D))
    Aj = np.empty((D, D))
    if not chol_from_unconstrained(kind, 1, params, u_i, L1):
        return -np.inf
    _inv_lower(L1[0], Ai)
    ldi = 0.0
    for d in range(D):
        ldi += math.log(L1[0, d, d])
    L1[:] = 0.0
    if not chol_from_unconstrained(kind, 1, params, u_j, L1):
        return -np.inf
    _inv_lower(L1[0], Aj)
    ldj = 0.0
    for d in range(D):
        ldj += math.log(L1[0, d, d])
    lpa = math.log(pis[0])
    lpb = math.log(pis[1])
    for a in range(m):
        n = idx[a]
        li = lpa + beta * _loglik_point(X[n], mu_i, Ai, ldi, D)
        lj = lpb + beta * _loglik_point(X[n], mu_j, Aj, ldj, D)
        mx = max(li, lj)
        lse = mx + math.log(math.exp(li - mx) + math.exp(lj - mx))
        if draw:
            zs[n] = i if rng.random() < math.exp(li - lse) else j
        lq += (li if zs[n] == i else lj) - lse
    return lq


@_njit
def _merge_proposal_terms(rng, draw, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale, mu_i, u_i):
    """The merged component's proposal from the set ``idx[:m]`` (draw or evaluate)."""
    xbar = np.empty(D)
    S = np.empty((D, D))
    C0 = np.empty((D, D))
    _set_stats(X, idx, m, D, kind == 1, floor, xbar, S, C0)
    return _component_proposal(rng, draw, kind, params, D, float(m), xbar, S, C0, beta, mean_loc, mean_sd, scale,
                               mu_i, u_i)


@_njit
def _target_part(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, k, mu_k, u_k):
    """The terms of the (weights-integrated) target that involve component ``k``:
    normalised log prior, ``beta`` x log-likelihood of its points, ``lgamma(n_k + alpha_k)``."""
    lp = _log_prior_component(kind, params, cov_const, mean_loc, mean_sd, mu_k, u_k, D, floor)
    if not np.isfinite(lp):
        return -np.inf
    L1 = np.zeros((1, D, D))
    chol_from_unconstrained(kind, 1, params, u_k, L1)
    Ak = np.empty((D, D))
    _inv_lower(L1[0], Ak)
    ld = 0.0
    for d in range(D):
        ld += math.log(L1[0, d, d])
    nk = 0
    ll = 0.0
    for n in range(N):
        if zs[n] == k:
            nk += 1
            ll += _loglik_point(X[n], mu_k, Ak, ld, D)
    return lp + beta * ll + math.lgamma(nk + alpha[k])


@_njit
def _pair_target(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu_i, u_i, j, mu_j,
                 u_j):
    """:func:`_target_part` of components ``i`` and ``j`` together."""
    return (_target_part(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu_i, u_i)
            + _target_part(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, j, mu_j, u_j))


@_njit
def _metropolis(rng, la, mu, ucov, pf, D, i, j, mu_i, u_i, mu_j, u_j):
    """Accept with probability ``min(1, exp(la))``: then components ``i`` and ``j`` take the
    proposed parameters. Returns whether it accepted."""
    if not (np.isfinite(la) and math.log(1.0 - rng.random()) < la):
        return False
    for d in range(D):
        mu[i, d] = mu_i[d]
        mu[j, d] = mu_j[d]
    for p in range(pf):
        ucov[i * pf + p] = u_i[p]
        ucov[j * pf + p] = u_j[p]
    return True


@_njit
def split_merge_move(rng, kind, pf, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, K, D, beta, mu, ucov,
                     floor, scale, counts, dbg):
    """One split-merge proposal on ``(zs, mu, ucov)`` (updated in place if accepted).
    ``counts`` (4,) adds: split proposals, accepted splits, merge proposals, accepted
    merges. ``dbg`` (6,) gets the last proposal's terms: 1 split / 2 merge, target
    difference, log reverse and forward proposal densities, log ratio of the choices, log
    acceptance ratio (0 if no proposal). Returns True if accepted (the caller recomputes
    the factors)."""
    dbg[:] = 0.0
    nk = np.zeros(K, dtype=np.int64)
    for n in range(N):
        if zs[n] < K:
            nk[zs[n]] += 1
    occ = np.empty(K, dtype=np.int64)
    emp = np.empty(K, dtype=np.int64)
    n_occ = 0
    n_emp = 0
    for k in range(K):
        if nk[k] > 0:
            occ[n_occ] = k
            n_occ += 1
        else:
            emp[n_emp] = k
            n_emp += 1
    split = rng.random() < 0.5
    idx = np.empty(N, dtype=np.int64)
    z_old = zs.copy()
    mu_i = np.empty(D)
    mu_j = np.empty(D)
    u_i = np.empty(pf)
    u_j = np.empty(pf)
    if split:
        if n_emp == 0 or n_occ == 0:
            return False
        i = occ[min(int(rng.random() * n_occ), n_occ - 1)]
        j = emp[min(int(rng.random() * n_emp), n_emp - 1)]
        counts[0] += 1.0
        if nk[i] < 2:
            return False
        m = 0
        for n in range(N):
            if zs[n] == i:
                idx[m] = n
                m += 1
        old = _pair_target(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu[i],
                           ucov[i * pf:(i + 1) * pf], j, mu[j], ucov[j * pf:(j + 1) * pf])
        lq_fwd = _split_proposal_terms(rng, True, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale,
                                       zs, i, j, mu_i, u_i, mu_j, u_j)
        if not np.isfinite(lq_fwd):
            for a in range(m):
                zs[idx[a]] = i
            return False
        ni = 0
        for a in range(m):
            if zs[idx[a]] == i:
                ni += 1
        if ni == 0 or ni == m or not np.isfinite(old):
            for a in range(m):
                zs[idx[a]] = i
            return False
        new = _pair_target(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu_i, u_i,
                           j, mu_j, u_j)
        # reverse: merge (i <- j) from the new state, then theta_j (old, empty) from the prior
        lq_rev = _merge_proposal_terms(rng, False, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale,
                                       mu[i], ucov[i * pf:(i + 1) * pf])
        lq_rev += _log_prior_component(kind, params, cov_const, mean_loc, mean_sd, mu[j], ucov[j * pf:(j + 1) * pf],
                                       D, floor)
        lchoose_fwd = -math.log(n_occ) - math.log(n_emp)
        lchoose_rev = -math.log(n_occ + 1) - math.log(n_occ)
        la = new - old + lq_rev - lq_fwd + lchoose_rev - lchoose_fwd
        dbg[0], dbg[1], dbg[2], dbg[3], dbg[4], dbg[5] = 1.0, new - old, lq_rev, lq_fwd, lchoose_rev - lchoose_fwd, la
        if _metropolis(rng, la, mu, ucov, pf, D, i, j, mu_i, u_i, mu_j, u_j):
            counts[1] += 1.0
            return True
        for a in range(m):
            zs[idx[a]] = i
        return False
    # merge
    if n_occ < 2:
        return False
    a1 = min(int(rng.random() * n_occ), n_occ - 1)
    a2 = min(int(rng.random() * (n_occ - 1)), n_occ - 2)
    if a2 >= a1:
        a2 += 1
    i = occ[a1]
    j = occ[a2]
    counts[2] += 1.0
    m = 0
    for n in range(N):
        if zs[n] == i or zs[n] == j:
            idx[m] = n
            m += 1
    old = _pair_target(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu[i],
                       ucov[i * pf:(i + 1) * pf], j, mu[j], ucov[j * pf:(j + 1) * pf])
    # reverse first (it reads the current state): split of the union into (i, j)
    lq_rev = _split_proposal_terms(rng, False, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale, zs,
                                   i, j, mu[i], ucov[i * pf:(i + 1) * pf], mu[j], ucov[j * pf:(j + 1) * pf])
    if not np.isfinite(lq_rev) or not np.isfinite(old):
        return False
    lq_fwd = _merge_proposal_terms(rng, True, kind, params, X, idx, m, D, floor, beta, mean_loc, mean_sd, scale,
                                   mu_i, u_i)
    if not np.isfinite(lq_fwd):
        return False
    _prior_draw(rng, kind, params, mean_loc, mean_sd, D, mu_j, u_j)
    lq_fwd += _log_prior_component(kind, params, cov_const, mean_loc, mean_sd, mu_j, u_j, D, floor)
    if not np.isfinite(lq_fwd):
        return False
    for a in range(m):
        zs[idx[a]] = i
    new = _pair_target(kind, params, cov_const, mean_loc, mean_sd, alpha, X, zs, N, D, beta, floor, i, mu_i, u_i, j,
                       mu_j, u_j)
    lchoose_fwd = -math.log(n_occ) - math.log(n_occ - 1)
    lchoose_rev = -math.log(n_occ - 1) - math.log(n_emp + 1)
    la = new - old + lq_rev - lq_fwd + lchoose_rev - lchoose_fwd
    dbg[0], dbg[1], dbg[2], dbg[3], dbg[4], dbg[5] = 2.0, new - old, lq_rev, lq_fwd, lchoose_rev - lchoose_fwd, la
    if _metropolis(rng, la, mu, ucov, pf, D, i, j, mu_i, u_i, mu_j, u_j):
        counts[3] += 1.0
        return True
    for a in range(m):
        zs[idx[a]] = z_old[idx[a]]
    return False
