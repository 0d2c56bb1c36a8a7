"""Gibbs sampling with data augmentation (``method="gibbs"``), compiled and chains in parallel.

The sampler of the mixture literature (Diebolt & Robert 1994; Fruehwirth-Schnatter
2006, ch. 3; the sparse finite mixtures of Malsiner-Walli, Fruehwirth-Schnatter &
Gruen 2016): the allocations ``z`` are sampled with the parameters, and given
``z`` the posterior factorises. One sweep, on the same posterior and the same
unconstrained vector as NUTS (:class:`bayesgmm._logdensity.MixtureDensity`):

1. ``z | mu, Sigma`` with the weights integrated out, one observation at a time:
   ``P(z_n = k | z_-n)`` proportional to ``(n_-n,k + alpha_k) N(x_n | mu_k, Sigma_k)``
   (the uniform noise component: ``(n_-n,0 + alpha_0) / V``); exact. (A chain's
   first sweep draws ``z | theta`` with the weights, ``w_k N(x_n | mu_k, Sigma_k)``.)
   Steps 1 and 2 together are a partially collapsed Gibbs step (van Dyk & Park 2008);
   with a small ``alpha`` an empty component's pull is ``alpha_k``, not a weight of
   ``1e-40``, so empty components can refill;
2. ``w | z ~ Dirichlet(alpha + n)``, exact, drawn on the log scale (a weight
   with ``alpha_k + n_k`` as small as the sparse method's 0.01 underflows in
   ``w`` but not in ``log w``);
3. ``mu_k | z, Sigma_k``: Gaussian (the independent Normal prior per coordinate
   is conjugate), exact;
4. the covariance block ``u | z, mu``: its prior is not conjugate (LKJ and
   half-normal standard deviations), so a random-walk Metropolis update of each
   coordinate of ``u`` in turn (``n_cov_steps`` passes per sweep) on the
   conditional, which depends on the data only through ``n_k`` and the centred
   scatter ``S_k = sum_{z_n = k} (x_n - mu_k)(x_n - mu_k)^T`` (cost ``O(K D^3)``
   per proposal, not ``O(N)``). The log prior is the covariance type's compiled
   block (:mod:`bayesgmm.covariance._compiled`), so every type with a compiled
   density is covered and nothing here switches on a type name. The step of
   each coordinate starts at the local posterior sd (scale-free) and is adapted
   during the warm-up (``tune`` sweeps) to an acceptance of 0.44, then frozen.

Why Gibbs: a surplus or overlapping component can empty out. Given ``z`` an
empty component's parameters are drawn from their prior in one sweep, and a
component refills when a few allocations move to it, so the sampler crosses
between "split" and "absorbed" modes that NUTS, on the marginal posterior's
funnel-shaped geometry around an almost empty component, crosses rarely
(``benchmarks/hard_posteriors.py``, issue 14). It does not cross between
*labellings* (label switching), which is not needed: the draws are relabelled
against the EM fit afterwards, as NUTS's are.

Split-merge moves (``split_merge=`` moves per sweep, off by default; on in the sparse
method's default sampler): a
data-driven Metropolis-Hastings move on ``(z, mu, Sigma)`` with the weights integrated
out, after the allocations (:mod:`bayesgmm.inference._split_merge`): a component's points
split in two by a deterministic EM with parameters drawn around its fit, or two
components merged. On iris (modelled as rounded) they make the number of occupied
components mix where the sweeps alone move it a few times per 200,000 sweeps
(``benchmarks/README.md``).

Each chain is one call of a numba function that holds no Python object and
releases the GIL (its own ``numpy.random.Generator``, spawned from the seed),
so the chains run in parallel threads, one per core, and the same seed gives
the same draws whatever the number of cores. Kept draws: every ``thin``-th
sweep after the warm-up.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from bayesgmm._compiled import _H_KIND, _H_NF, _H_NOISE, _layout
from bayesgmm.covariance._compiled import chol_from_unconstrained, log_prior_and_grad
from bayesgmm.inference._common import _check_int, _progress
from bayesgmm.inference._results import _draws_to_dataset, _tree
from bayesgmm.inference._split_merge import _inv_lower, cov_prior_constant, split_merge_move

__all__ = ["GIBBS_TARGET_ACCEPT", "gibbs_chain"]

#: Acceptance rate the covariance coordinates' random-walk steps are tuned to
#: (the optimum of one-dimensional random-walk Metropolis; Roberts & Rosenthal 2001).
GIBBS_TARGET_ACCEPT = 0.44

_LOG_2PI = math.log(2.0 * math.pi)
#: The covariance moves keep every diagonal of a Cholesky factor (a conditional sd) above
#: this times the prior sd of the means (``mean_scale`` data sds): a truncation of the sd
#: prior far below any cluster the data can show (EM's ``reg_covar`` floor is an sd of
#: 1e-3 data sds) that keeps the covariances numerically positive definite (condition
#: number below ~1e12). Without it a component on tied values, where the posterior is
#: improper, follows its spike until the covariances lose positive definiteness; with it
#: the component stops at the floor, and the diagnostics say it collapsed.
_SD_FLOOR = 1e-6
_NSTATS = 4  # per kept draw: log-likelihood, covariance acceptance, occupied components, noise count

_njit = numba.njit(cache=True, nogil=True, error_model="numpy")


@_njit
def _log_gamma_draw(rng, a):
    """``log G`` with ``G ~ Gamma(a, 1)``, finite for any ``a > 0`` (``a < 1``: ``G(a + 1) U^(1/a)``)."""
    if a >= 1.0:
        return math.log(rng.gamma(a))
    return math.log(rng.gamma(a + 1.0)) + math.log(1.0 - rng.random()) / a


@_njit
def _categorical(logp, rng):
    """An index drawn with probabilities proportional to ``exp(logp)`` (``logp`` is overwritten)."""
    best = -np.inf
    for k in range(logp.shape[0]):
        best = max(best, logp[k])
    tot = 0.0
    for k in range(logp.shape[0]):
        logp[k] = math.exp(logp[k] - best)
        tot += logp[k]
    u = rng.random() * tot
    acc = 0.0
    for k in range(logp.shape[0]):
        acc += logp[k]
        if u < acc:
            return k
    return logp.shape[0] - 1


@_njit
def _truncated_standard_normal(rng, a, b):
    """A draw of ``N(0, 1)`` truncated to ``[a, b]`` (``a < b``), exact by rejection from a
    normal (an interval around 0 wider than 2.5), a uniform (a narrow interval) or, in a
    tail, an exponential proposal (Robert 1995); each accepts at least ~1/3 of proposals."""
    if a < 0.0 < b and b - a > 2.5:
        while True:
            u = rng.standard_normal()
            if a <= u <= b:
                return u
    if b <= 0.0:  # the lower tail: mirror
        return -_truncated_standard_normal(rng, -b, -a)
    lo = max(a, 0.0)  # the point of [a, b] nearest 0 (a < 0 < b: 0)
    if (b - a) * max(lo, 1.0) < 2.0:  # narrow: a uniform proposal
        while True:
            u = a + (b - a) * rng.random()
            if math.log(1.0 - rng.random()) < -0.5 * (u * u - lo * lo):
                return u
    lam = 0.5 * (a + math.sqrt(a * a + 4.0))  # a > 0, wide: exponential proposal from a
    while True:
        u = a - math.log(1.0 - rng.random()) / lam
        if u <= b and math.log(1.0 - rng.random()) < -0.5 * (u - lam) * (u - lam):
            return u


@_njit
def _factors(kind, nf, params, ucov, K, D, L, A, logdet):
    """``L`` (zeroed here), ``A = L^{-1}`` and ``sum log diag L`` per component; False if not finite."""
    L[:] = 0.0
    if not chol_from_unconstrained(kind, nf, params, ucov, L):
        return False
    for k in range(K):
        _inv_lower(L[k], A[k])
        s = 0.0
        for i in range(D):
            s += math.log(L[k, i, i])
        logdet[k] = s
    return True


@_njit
def _factor_target(kind, params, uf, D, n, S, L, A, logdet, dL, g, beta, floor):
    """Log conditional density (up to a constant) of one covariance factor's coordinates ``uf``
    given the allocations and means: its log prior (with the transform's Jacobian) plus
    ``beta (-n log|L| - tr(A S A^T) / 2)``, where ``n`` and ``S`` (D, D) sum the counts and
    centred scatters of the components that use the factor and ``beta`` is the inverse
    temperature of the likelihood. ``-inf`` where a diagonal of the Cholesky factor is
    below ``floor`` (D,): the sampler's numerical floor (see ``_SD_FLOOR``). ``L, A, dL``
    (1, D, D), ``logdet`` (1,) scratch, left holding the factor at ``uf``."""
    if not _factors(kind, 1, params, uf, 1, D, L, A, logdet):
        return -np.inf
    for i in range(D):
        if L[0, i, i] < floor[i]:
            return -np.inf
    dL[:] = 0.0
    lp = log_prior_and_grad(kind, 1, params, L, dL, g)
    # tr(A S A^T) = sum_i sum_{m, l <= i} A_im S_ml A_il (A lower triangular)
    q = 0.0
    for i in range(D):
        for m in range(i + 1):
            aim = A[0, i, m]
            if aim == 0.0:
                continue
            t = 0.0
            for l in range(i + 1):
                t += S[m, l] * A[0, i, l]
            q += aim * t
    lp += beta * (-n * logdet[0] - 0.5 * q)
    return lp if np.isfinite(lp) else -np.inf


@_njit
def gibbs_chain(buf, x, z, rng, n_tune, n_keep, thin, n_cov_steps, step, adapt_from, draws_out, stats_out,
                acc_out, betas, perm, swap_out, trips, res, Xl):
    """:func:`gibbs_chain_sm` without split-merge moves (see there)."""
    return gibbs_chain_sm(buf, x, z, rng, n_tune, n_keep, thin, n_cov_steps, step, adapt_from, draws_out,
                          stats_out, acc_out, betas, perm, swap_out, trips, res, Xl, 0.0, 1.0, 0.0, np.zeros(4))


@_njit
def gibbs_chain_sm(buf, x, z, rng, n_tune, n_keep, thin, n_cov_steps, step, adapt_from, draws_out, stats_out,
                   acc_out, betas, perm, swap_out, trips, res, Xl, sm_rate, sm_scale, cov_const, sm_counts):
    """Run one chain: ``n_tune`` warm-up sweeps, then ``n_keep * thin`` sweeps, keeping every ``thin``-th.

    The chain is ``R = len(betas)`` replicas of the model whose likelihood is raised to
    the power ``betas[t]`` (``betas[0] = 1``: the posterior; with ``R = 1`` it is plain
    Gibbs sampling), each moved by one sweep in turn, followed by swaps between
    neighbouring temperatures (parallel tempering, below). State, updated in place:
    ``x`` (R, ndim) the replicas' unconstrained points; ``z`` (R, N) their allocations
    (a row that starts negative is drawn from ``z | x``); ``perm`` (R,) the replica (row)
    at each temperature; ``step`` (R, covariance block size) the random-walk steps of
    each temperature, adapted during the warm-up (sweeps counted from ``adapt_from``,
    for a run in several calls; its parity also picks the swaps). Out: ``draws_out``
    (n_keep, ndim) the kept points of temperature 0, each the state at the start of its
    sweep; ``stats_out`` (n_keep, 4): the log-likelihood of that point, the covariance
    acceptance rate of its sweep, and the occupied components and the noise count of the
    allocations drawn in it; ``acc_out`` (covariance block size,) the kept sweeps'
    acceptance rate per coordinate; ``swap_out`` (R - 1, 2): summed rejection
    probability and number of swap proposals per neighbouring pair (added to); ``trips``
    (R + 1,) the end of the ladder each replica visited last (0 the posterior, 1 the
    hottest, -1 neither) and, last, the round trips so far (a replica going from
    temperature 0 to the hottest and back); ``res`` (D,) the rounding step of each
    feature (0: not rounded) and ``Xl`` (R, N, D) each replica's latent unrounded
    values (state; unused, and may be empty, when no feature is rounded). Returns 0,
    or 1 if a start's covariance block is not finite.

    Rounded data (``res > 0``): the observed ``x_ni`` is the latent ``x*_ni`` rounded to
    a multiple of ``res_i``, so ``x*_ni`` lies in ``[x_ni - res_i / 2, x_ni + res_i / 2]``
    and the likelihood of an observation is the component's probability of its box,
    at most 1, instead of a density that grows without bound on tied values. Each
    sweep draws the latent values given the allocations and the parameters, one
    coordinate at a time from its conditional normal truncated to the box (data
    augmentation, as for the allocations), and every other step uses them.

    The allocations are drawn with the weights integrated out (``P(z_n = k | z_-n, mu,
    Sigma)`` proportional to ``(n_-n,k + alpha_k) N(x_n | mu_k, Sigma_k)^beta``, one
    observation at a time), then the weights given them: a partially collapsed Gibbs
    sampler (van Dyk & Park 2008) with the same stationary distribution. With a small
    ``alpha`` (the sparse method's 0.01) an empty component's weight is drawn as
    ``1e-40`` or smaller and the plain step almost never refills it; here its pull is
    ``alpha_k``, so the number of occupied components can go up as well as down.

    Swaps (``R > 1``): the non-reversible deterministic even-odd scheme (Okabe et al.
    2001; Syed et al. 2022): on even sweeps the pairs ``(0, 1), (2, 3), ...``, on odd ones
    ``(1, 2), ...``; a swap of the states at ``betas[t]`` and ``betas[t + 1]`` is accepted
    with probability ``min(1, exp((betas[t] - betas[t+1]) (l_{t+1} - l_t)))``, ``l`` the
    complete-data log-likelihood ``sum_n log N(x_n | mu_{z_n}, Sigma_{z_n})`` of each
    state (the tempered target is ``p(X | z, theta)^beta p(z | w) p(w) p(theta)``).

    Split-merge (``sm_rate > 0``, one covariance factor per component):
    after the allocations (and latent values) of each sweep, ``floor(sm_rate)`` split-merge
    Metropolis-Hastings moves (:mod:`bayesgmm.inference._split_merge`), plus one more with
    probability ``sm_rate - floor(sm_rate)``, on ``(z, mu, Sigma)`` with the weights integrated
    out; ``sm_scale`` scales the parameter proposals' sds, ``cov_const`` is the normalising
    constant of one covariance factor's prior, and ``sm_counts`` (4,) adds, over the sweeps
    after the warm-up: split proposals, accepted splits, merge proposals, accepted merges.
    """
    N, D, K, params, mean_loc, mean_sd, alpha, XT = _layout(buf)
    kind = int(buf[_H_KIND])
    nf = int(buf[_H_NF])
    V = buf[_H_NOISE]
    R = betas.shape[0]
    kw = alpha.shape[0]  # K, or K + 1 with the noise component (its weight last)
    nw = kw - 1
    o_cov = nw + K * D
    ncov = x.shape[1] - o_cov
    pf = ncov // nf  # coordinates per covariance factor
    X = np.ascontiguousarray(XT.T)  # (N, D): one observation's features adjacent
    rounded = False
    for i in range(D):
        if res[i] > 0.0:
            rounded = True
    lam = np.empty((K, D, D))
    floor = np.empty(D)
    for i in range(D):
        floor[i] = _SD_FLOOR * mean_sd[i]
    # each replica's state, unpacked from its row of x
    logw_all = np.empty((R, kw))
    mu_all = np.empty((R, K, D))
    ucov_all = np.empty((R, ncov))
    L_all = np.zeros((R, K, D, D))
    A_all = np.zeros((R, K, D, D))
    logdet_all = np.empty((R, K))
    fresh = np.zeros(R, dtype=np.bool_)
    v = np.zeros(kw)
    for s in range(R):
        v[:] = 0.0
        for k in range(nw):
            v[k] = x[s, k]
            v[kw - 1] -= x[s, k]
        mx = v.max()
        se = 0.0
        for k in range(kw):
            se += math.exp(v[k] - mx)
        for k in range(kw):
            logw_all[s, k] = v[k] - mx - math.log(se)
        for k in range(K):
            for i in range(D):
                mu_all[s, k, i] = x[s, nw + k * D + i]
        for j in range(ncov):
            ucov_all[s, j] = x[s, o_cov + j]
        if not _factors(kind, nf, params, ucov_all[s], K, D, L_all[s], A_all[s], logdet_all[s]):
            return 1
        fresh[s] = z[s, 0] < 0
    ell = np.zeros(R)  # complete-data log-likelihood of each replica's state (for swaps)
    # one factor's scratch (current and proposed)
    L1 = np.zeros((1, D, D))
    A1 = np.zeros((1, D, D))
    ld1 = np.empty(1)
    dL1 = np.zeros((1, D, D))
    g1 = np.empty(pf)
    c = np.empty(kw)
    dens = np.empty((N, kw))  # log N(x_n | mu_k, Sigma_k) (+ the constants), the noise's -log V last
    p = np.empty(kw)
    lc = np.empty(kw)  # log(n_k + alpha_k) of the current counts
    y = np.empty(D)
    nk = np.zeros(kw)
    xs = np.zeros((K, D))
    S = np.zeros((K, D, D))
    nF = np.zeros(nf)
    SF = np.zeros((nf, D, D))
    xbar = np.empty((K, D))
    P = np.empty((D, D))
    U = np.empty((D, D))
    h = np.empty(D)
    wv = np.empty(D)
    e = np.empty(D)
    acc_sum = np.zeros(ncov)
    tries = np.zeros(ncov)
    sm_tmp = np.zeros(4)
    sm_dbg = np.zeros(6)
    acc_out[:] = 0.0
    n_total = n_tune + n_keep * thin
    for sweep in range(n_total):
        keep0 = sweep >= n_tune and (sweep - n_tune) % thin == 0
        r = (sweep - n_tune) // thin
        warm = sweep < n_tune
        gamma = 1.0 / (adapt_from + sweep + 1.0) ** 0.6
        for t in range(R):
            s = perm[t]
            beta = betas[t]
            keep = keep0 and t == 0
            logw = logw_all[s]
            mu = mu_all[s]
            ucov = ucov_all[s]
            L = L_all[s]
            A = A_all[s]
            logdet = logdet_all[s]
            zs = z[s]
            Xs = Xl[s] if rounded else X
            # ---- 1. allocations (and the log-likelihood of the current point)
            for k in range(K):
                c[k] = -logdet[k] - 0.5 * D * _LOG_2PI
            if kw > K:
                c[K] = -math.log(V)
            ll = 0.0
            for n in range(N):
                best = -np.inf
                for k in range(K):
                    for i in range(D):
                        y[i] = Xs[n, i] - mu[k, i]
                    q = 0.0
                    for i in range(D):
                        tt = 0.0
                        for j in range(i + 1):
                            tt += A[k, i, j] * y[j]
                        q += tt * tt
                    dens[n, k] = c[k] - 0.5 * q
                    tt = dens[n, k] + logw[k]
                    if tt > best:
                        best = tt
                if kw > K:
                    dens[n, K] = c[K]
                    tt = c[K] + logw[K]
                    if tt > best:
                        best = tt
                if keep:  # the log-likelihood, only where the point is kept
                    tot = 0.0
                    for k in range(kw):
                        tot += math.exp(dens[n, k] + logw[k] - best)
                    ll += best + math.log(tot)
            if fresh[s]:  # the first sweep of a replica: z | x, with the weights
                for n in range(N):
                    for k in range(kw):
                        p[k] = beta * dens[n, k] + logw[k]
                    zs[n] = _categorical(p, rng)
                fresh[s] = False
            else:  # z_n | z_-n, mu, Sigma with the weights integrated out
                nk[:] = 0.0
                for n in range(N):
                    nk[zs[n]] += 1.0
                for k in range(kw):
                    lc[k] = math.log(nk[k] + alpha[k])
                for n in range(N):
                    k = zs[n]
                    nk[k] -= 1.0
                    lc[k] = math.log(nk[k] + alpha[k])
                    for k in range(kw):
                        p[k] = beta * dens[n, k] + lc[k]
                    zn = _categorical(p, rng)
                    zs[n] = zn
                    nk[zn] += 1.0
                    lc[zn] = math.log(nk[zn] + alpha[zn])
            if rounded:  # ---- 1b. the latent unrounded values | z, mu, Sigma: truncated normals
                for k in range(K):  # Sigma_k^{-1} = A_k^T A_k
                    for i in range(D):
                        for j in range(D):
                            sm = 0.0
                            for l in range(max(i, j), D):
                                sm += A[k, l, i] * A[k, l, j]
                            lam[k, i, j] = sm
                for n in range(N):
                    k = zs[n]
                    for i in range(D):
                        if res[i] <= 0.0:
                            continue
                        lo = X[n, i] - 0.5 * res[i]
                        hi = X[n, i] + 0.5 * res[i]
                        if k >= K or beta == 0.0:  # the noise component, or no likelihood: uniform
                            Xs[n, i] = lo + (hi - lo) * rng.random()
                            continue
                        tt = 0.0
                        for j in range(D):
                            if j != i:
                                tt += lam[k, i, j] * (Xs[n, j] - mu[k, j])
                        m = mu[k, i] - tt / lam[k, i, i]
                        sdv = 1.0 / math.sqrt(beta * lam[k, i, i])
                        Xs[n, i] = m + sdv * _truncated_standard_normal(rng, (lo - m) / sdv, (hi - m) / sdv)
            if sm_rate > 0.0 and nf == K:  # ---- 1c. split-merge moves on (z, mu, Sigma), weights integrated out
                n_sm = int(sm_rate)
                if rng.random() < sm_rate - n_sm:
                    n_sm += 1
                moved = False
                for _ in range(n_sm):
                    if split_merge_move(rng, kind, pf, params, cov_const, mean_loc, mean_sd, alpha, Xs, zs, N, K, D,
                                        beta, mu, ucov, floor, sm_scale, sm_tmp, sm_dbg):
                        moved = True
                if not warm:
                    for q4 in range(4):
                        sm_counts[q4] += sm_tmp[q4]
                sm_tmp[:] = 0.0
                if moved and not _factors(kind, nf, params, ucov, K, D, L, A, logdet):
                    return 1  # not reached: accepted proposals have finite factors
            nk[:] = 0.0
            xs[:] = 0.0
            for n in range(N):
                k = zs[n]
                nk[k] += 1.0
                if k < K:
                    for i in range(D):
                        xs[k, i] += Xs[n, i]
            if keep:
                for i in range(x.shape[1]):
                    draws_out[r, i] = x[s, i]
                stats_out[r, 0] = ll
                occ = 0
                for k in range(K):
                    if nk[k] > 0:
                        occ += 1
                stats_out[r, 2] = occ
                stats_out[r, 3] = nk[K] if kw > K else 0.0
            # ---- 2. weights | z: Dirichlet(alpha + n) on the log scale
            mx = -np.inf
            for k in range(kw):
                logw[k] = _log_gamma_draw(rng, alpha[k] + nk[k])
                if logw[k] > mx:
                    mx = logw[k]
            se = 0.0
            for k in range(kw):
                se += math.exp(logw[k] - mx)
            lse = mx + math.log(se)
            for k in range(kw):
                logw[k] -= lse
            # ---- 3. means | z, Sigma: conjugate, prior N(m0, D0) (D0 diagonal) and the
            # component's mean xbar ~ N(mu, S), S = Sigma / (beta n_k). Drawn by Matheron's
            # rule (perturbation): mu = mt + D0 (D0 + S)^{-1} (xbar - mt - delta) with
            # mt ~ N(m0, D0) and delta ~ N(0, S) is exact, and only D0 + S is factorised,
            # which stays well conditioned when Sigma is nearly singular (the precision
            # form n Sigma^{-1} + D0^{-1} does not: its Cholesky fails on a component that
            # sits on collinear or tied values)
            for k in range(K):
                for i in range(D):
                    h[i] = mean_loc[i] + mean_sd[i] * rng.standard_normal()  # mt
                if nk[k] == 0.0 or beta == 0.0:  # no data (or no likelihood): the prior
                    for i in range(D):
                        mu[k, i] = h[i]
                    continue
                cs = 1.0 / (beta * nk[k])
                for i in range(D):  # P = D0 + cs L L^T
                    for j in range(i + 1):
                        sm = 0.0
                        for l in range(j + 1):
                            sm += L[k, i, l] * L[k, j, l]
                        P[i, j] = cs * sm
                        P[j, i] = P[i, j]
                    P[i, i] += mean_sd[i] * mean_sd[i]
                for i in range(D):  # P = U U^T (U lower)
                    for j in range(i + 1):
                        sm = P[i, j]
                        for l in range(j):
                            sm -= U[i, l] * U[j, l]
                        if i == j:
                            U[i, i] = math.sqrt(sm)
                        else:
                            U[i, j] = sm / U[j, j]
                for i in range(D):
                    e[i] = rng.standard_normal()
                sq = math.sqrt(cs)
                for i in range(D):  # v = xbar - mt - delta, delta = sqrt(cs) L e
                    sm = 0.0
                    for l in range(i + 1):
                        sm += L[k, i, l] * e[l]
                    wv[i] = xs[k, i] / nk[k] - h[i] - sq * sm
                for i in range(D):  # U y = v
                    sm = wv[i]
                    for l in range(i):
                        sm -= U[i, l] * y[l]
                    y[i] = sm / U[i, i]
                for i in range(D - 1, -1, -1):  # U^T w = y
                    sm = y[i]
                    for l in range(i + 1, D):
                        sm -= U[l, i] * wv[l]
                    wv[i] = sm / U[i, i]
                for i in range(D):
                    mu[k, i] = h[i] + mean_sd[i] * mean_sd[i] * wv[i]
            # ---- 4. covariance factors | z, mu: centred scatter (two-pass), then random-walk
            # Metropolis on each coordinate of each factor (the factors are independent given z, mu)
            for k in range(K):
                for i in range(D):
                    xbar[k, i] = xs[k, i] / nk[k] if nk[k] > 0 else mu[k, i]
            S[:] = 0.0
            for n in range(N):
                k = zs[n]
                if k >= K:
                    continue
                for i in range(D):
                    y[i] = Xs[n, i] - xbar[k, i]
                for i in range(D):
                    for j in range(i + 1):
                        S[k, i, j] += y[i] * y[j]
            nF[:] = 0.0
            SF[:] = 0.0
            for k in range(K):
                f = k if nf == K else 0
                for i in range(D):
                    y[i] = xbar[k, i] - mu[k, i]
                nF[f] += nk[k]
                for i in range(D):
                    for j in range(i + 1):
                        tt = S[k, i, j] + nk[k] * y[i] * y[j]
                        SF[f, i, j] += tt
                        if j < i:
                            SF[f, j, i] += tt
            n_acc = 0.0
            for f in range(nf):
                uf = ucov[f * pf : (f + 1) * pf]
                cur = _factor_target(kind, params, uf, D, nF[f], SF[f], L1, A1, ld1, dL1, g1, beta, floor)
                for _ in range(n_cov_steps):
                    for jj in range(pf):
                        j = f * pf + jj
                        old = uf[jj]
                        uf[jj] = old + step[t, j] * rng.standard_normal()
                        new = _factor_target(kind, params, uf, D, nF[f], SF[f], L1, A1, ld1, dL1, g1, beta,
                                             floor)
                        a = 0.0
                        if new > -np.inf:
                            d = new - cur
                            a = 1.0 if d >= 0.0 else math.exp(d)
                        if rng.random() < a:
                            cur = new
                        else:
                            uf[jj] = old
                        n_acc += a
                        if warm:
                            step[t, j] *= math.exp(gamma * (a - GIBBS_TARGET_ACCEPT))
                        elif keep:
                            acc_sum[j] += a
                            tries[j] += 1.0
            if not _factors(kind, nf, params, ucov, K, D, L, A, logdet):
                return 1  # not reached: every accepted coordinate had a finite target
            if keep:
                stats_out[r, 1] = n_acc / max(1, n_cov_steps * ncov)
            # ---- the new state as the unconstrained vector (zero-sum logits)
            mean_lw = 0.0
            for k in range(kw):
                mean_lw += logw[k]
            mean_lw /= kw
            for k in range(nw):
                x[s, k] = logw[k] - mean_lw
            for k in range(K):
                for i in range(D):
                    x[s, nw + k * D + i] = mu[k, i]
            for j in range(ncov):
                x[s, o_cov + j] = ucov[j]
            if R > 1:  # the complete-data log-likelihood of the new state, for the swaps
                for k in range(K):
                    c[k] = -logdet[k] - 0.5 * D * _LOG_2PI
                lsum = 0.0
                for n in range(N):
                    k = zs[n]
                    if k >= K:
                        lsum += c[K]
                        continue
                    q = 0.0
                    for i in range(D):
                        tt = 0.0
                        for j in range(i + 1):
                            tt += A[k, i, j] * (Xs[n, j] - mu[k, j])
                        q += tt * tt
                    lsum += c[k] - 0.5 * q
                ell[s] = lsum
        # ---- swaps between neighbouring temperatures (non-reversible, even-odd)
        if R > 1:
            for t in range((adapt_from + sweep) % 2, R - 1, 2):
                s1 = perm[t]
                s2 = perm[t + 1]
                d = (betas[t] - betas[t + 1]) * (ell[s2] - ell[s1])
                a = 1.0 if d >= 0.0 else math.exp(d)
                swap_out[t, 0] += 1.0 - a
                swap_out[t, 1] += 1.0
                if rng.random() < a:
                    perm[t] = s2
                    perm[t + 1] = s1
            trips[perm[R - 1]] = 1
            if trips[perm[0]] == 1:
                trips[R] += 1
            trips[perm[0]] = 0
    for j in range(ncov):
        acc_out[j] = acc_sum[j] / tries[j] if tries[j] > 0 else np.nan
    return 0


def _check_resolution(resolution, n_features):
    """``resolution`` as ``n_features`` finite non-negative floats (None: zeros)."""
    if resolution is None:
        return np.zeros(n_features)
    try:
        r = np.asarray(resolution, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"resolution must be a number or one number per feature, got {resolution!r}."
        ) from None
    if r.ndim == 0:
        r = np.full(n_features, float(r))
    if r.shape != (n_features,) or not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError(
            f"resolution must be one finite number >= 0 or {n_features} of them (the rounding step "
            f"of each feature in the data's units, 0 where a feature is not rounded); got {resolution!r}."
        )
    return np.ascontiguousarray(r)


#: Sweeps per call of the compiled chain between progress-bar updates.
_CHUNK = 500


def _compile_here(dispatcher, args):
    """Compile ``dispatcher`` (a numba function) for the types of ``args`` in the calling
    thread, or load it from numba's cache; a no-op once compiled."""
    import numba

    dispatcher.compile(tuple(numba.typeof(a) for a in args))


def _gibbs(
    *,
    dens,
    x0,
    draws,
    tune,
    chains,
    progressbar,
    seed_jitter,
    seed_sampler,
    jitter,
    t0,
    thin=1,
    n_cov_steps=2,
    cores=None,
    n_temperatures=1,
    adapt_ladder=True,
    resolution=None,
    split_merge=0.0,
    split_merge_scale=1.0,
    **kwargs,
):
    """``method="gibbs"``: the chains of :func:`gibbs_chain` in parallel threads; the result tree.

    ``x0`` (chains, ndim): the chain starts (:func:`~bayesgmm.inference._starts._chain_starts`).
    With ``n_temperatures > 1`` each chain is a parallel-tempering run of that many
    replicas (every replica starts at the chain's start); the ladder starts geometric from
    1 to ``1/N``, then 0 (the prior), and with ``adapt_ladder`` is moved during the first
    half of the warm-up so that neighbouring temperatures swap equally often (Syed et al.
    2022, Algorithm 4; one ladder for all chains, so the result does not depend on ``cores``).
    ``resolution`` (one value, or one per feature, in the data's units; 0 = not rounded):
    the data are the latent values rounded to these steps (see :func:`gibbs_chain`).
    ``split_merge`` (default 0: off): split-merge moves per sweep
    (:mod:`bayesgmm.inference._split_merge`; covariance types with a factor per component),
    ``split_merge_scale`` the scale of their parameter proposals.
    """
    if kwargs:
        raise TypeError(
            f"method='gibbs' got unexpected keyword argument(s) {sorted(kwargs)}; it accepts "
            "thin, n_cov_steps, cores, n_temperatures, adapt_ladder, resolution, split_merge, "
            "split_merge_scale, jitter and dispersion."
        )
    from bayesgmm._compiled import CompiledDensity
    from bayesgmm.inference._tempering import _CHECKPOINTS, _initial_ladder, _ladder_from_rejections

    thin = _check_int(thin, "thin", 1)
    n_cov_steps = _check_int(n_cov_steps, "n_cov_steps", 1)
    R = _check_int(n_temperatures, "n_temperatures", 1)
    if not isinstance(adapt_ladder, bool):
        raise TypeError(f"adapt_ladder must be True or False, got {adapt_ladder!r}.")
    if cores is None:
        cores = min(chains, os.cpu_count() or 1)
    cores = _check_int(cores, "cores", 1)
    try:
        cd = dens if isinstance(dens, CompiledDensity) else CompiledDensity(dens)
    except NotImplementedError as err:
        raise ValueError(
            f"method='gibbs' needs the compiled density, which covariance_type={dens.covariance_type!r} "
            "does not have; use method='nuts' or 'tempering'."
        ) from err
    xs0 = np.atleast_2d(np.asarray(x0, dtype=np.float64))
    if xs0.shape[0] == 1 and chains > 1:
        xs0 = np.repeat(xs0, chains, axis=0)
    nd = dens.ndim
    K, D = dens.n_components, dens.n_features
    N = dens.X.shape[0]
    res = _check_resolution(resolution, D)
    sm_rate = float(split_merge)
    sm_scale = float(split_merge_scale)
    if not (np.isfinite(sm_rate) and sm_rate >= 0.0) or not (np.isfinite(sm_scale) and sm_scale > 0.0):
        raise ValueError(
            f"split_merge must be a number >= 0 and split_merge_scale one > 0; got {split_merge!r}, "
            f"{split_merge_scale!r}."
        )
    kind = int(cd.buffer[_H_KIND])
    if sm_rate > 0.0 and int(cd.buffer[_H_NF]) != K:
        raise ValueError("split_merge needs a covariance factor per component (not covariance_type='tied').")
    cov_const = cov_prior_constant(kind, np.array(_layout(cd.buffer)[3]), D)
    sm_counts = [np.zeros(4) for _ in range(chains)]
    kw = K + (1 if getattr(dens, "noise_hypervolume", None) is not None else 0)
    o_cov = kw - 1 + K * D
    ncov = nd - o_cov
    from bayesgmm.inference._starts import _jitter_scale

    # the covariance coordinates' first random-walk steps: the local posterior sds (scale-free)
    sd = _jitter_scale(dens, xs0[0], 1.0)[o_cov:]
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed_sampler).spawn(chains)]
    state = [np.repeat(xs0[c][None, :], R, axis=0) for c in range(chains)]
    alloc = [np.full((R, N), -1, dtype=np.int64) for _ in range(chains)]
    Xobs = np.ascontiguousarray(dens.X, dtype=np.float64)
    latent = [np.repeat(Xobs[None], R, axis=0) if res.any() else np.empty((R, 0, D)) for _ in range(chains)]
    steps = [np.ascontiguousarray(np.repeat(sd[None, :], R, axis=0)) for _ in range(chains)]
    betas = _initial_ladder(R, N)
    perms = [np.arange(R, dtype=np.int64) for _ in range(chains)]
    swaps = [np.zeros((max(R - 1, 0), 2)) for _ in range(chains)]
    trips = []
    for _ in range(chains):
        tr = np.full(R + 1, -1, dtype=np.int64)
        tr[0], tr[R] = 0, 0
        trips.append(tr)
    draws_out = np.empty((chains, draws, nd))
    stats_out = np.empty((chains, draws, _NSTATS))
    acc_out = np.full((chains, ncov), np.nan)
    buf = cd.buffer

    # the warm-up and the kept sweeps in chunks (progress between them, and the ladder's
    # moves at the checkpoints); the chains' generators and states carry over, so the
    # chunks give the draws of one long call
    cuts = {min(tune, _CHUNK * i) for i in range(1, tune // _CHUNK + 2)}
    adapting = R > 2 and adapt_ladder
    ladder_at = {int(f * tune) for f in _CHECKPOINTS if int(f * tune) > 0} if adapting else set()
    cuts = sorted((cuts | ladder_at) - {0})
    plan = []
    prev = 0
    for cut in cuts:
        plan.append(("tune", prev, cut - prev))
        prev = cut
    kept = 0
    per = max(1, _CHUNK // (thin * R))
    while kept < draws:
        n = min(per, draws - kept)
        plan.append(("keep", kept, n))
        kept += n
    ladders = [betas.tolist()]

    def chain_args(c, stage, first, n, betas, acc):
        if stage == "tune":
            return (buf, state[c], alloc[c], streams[c], n, 0, 1, n_cov_steps, steps[c], first,
                    draws_out[c, :0], stats_out[c, :0], acc_out[c], betas, perms[c], swaps[c],
                    trips[c], res, latent[c], sm_rate, sm_scale, cov_const, sm_counts[c])
        return (buf, state[c], alloc[c], streams[c], 0, n, thin, n_cov_steps, steps[c],
                tune + first * thin, draws_out[c, first : first + n], stats_out[c, first : first + n],
                acc, betas, perms[c], swaps[c], trips[c], res, latent[c], sm_rate, sm_scale, cov_const,
                sm_counts[c])

    def run_chain(c, stage, first, n, betas):
        acc = np.empty(ncov)
        rc = gibbs_chain_sm(*chain_args(c, stage, first, n, betas, acc))
        if stage == "keep":
            acc_sums[c] += np.nan_to_num(acc) * n
        return rc

    # compile (or load from numba's cache) here, before the threads: a first call in a
    # worker thread compiles there, out of Ctrl-C's reach (the main thread's
    # KeyboardInterrupt then waits for the compile: 46 s measured on a new machine)
    for stage, first, n in (plan[0], plan[-1]):
        _compile_here(gibbs_chain_sm, chain_args(0, stage, first, n, betas, np.empty(ncov)))
    setup_time = time.perf_counter() - t0  # the compile (or cache load) included
    t1 = time.perf_counter()

    acc_sums = np.zeros((chains, ncov))
    bar = _progress(progressbar, tune + draws * thin, "gibbs" if R == 1 else f"gibbs ({R} temperatures)")
    in_keep = False
    with ThreadPoolExecutor(max_workers=cores) as pool:
        for stage, first, n in plan:
            if stage == "keep" and not in_keep:  # the swap rates and round trips of the kept sweeps only
                in_keep = True
                for c in range(chains):
                    swaps[c][:] = 0.0
                    trips[c][R] = 0
            b = betas.copy()
            rcs = list(pool.map(lambda c, st=stage, f=first, m=n, b=b: run_chain(c, st, f, m, b), range(chains)))
            if any(rcs):
                raise RuntimeError(
                    "a Gibbs chain's starting covariance factors are not finite; try another "
                    "random_seed or a smaller jitter."
                )
            if stage == "tune" and first + n in ladder_at:
                tot = np.sum(swaps, axis=0)
                rej = tot[:, 0] / np.maximum(tot[:, 1], 1.0)
                betas, _ = _ladder_from_rejections(betas, rej)
                ladders.append(betas.tolist())
                for c in range(chains):
                    swaps[c][:] = 0.0
            if bar is not None:
                bar.update(n if stage == "tune" else n * thin)
    if bar is not None:
        bar.close()
    sampling_time = time.perf_counter() - t1

    import xarray as xr

    posterior = _draws_to_dataset(dens, draws_out)
    coords = {"chain": np.arange(chains), "draw": np.arange(draws)}
    stats = xr.Dataset(
        {
            "log_likelihood": (("chain", "draw"), stats_out[..., 0]),
            "acceptance_rate": (("chain", "draw"), stats_out[..., 1]),
            "occupied": (("chain", "draw"), stats_out[..., 2].astype(np.int64)),
            "diverging": (("chain", "draw"), np.zeros((chains, draws), dtype=bool)),
        },
        coords=coords,
    )
    if kw > K:
        stats["noise_count"] = (("chain", "draw"), stats_out[..., 3].astype(np.int64))
    attrs = {
        "method": "gibbs",
        "setup_time": setup_time,
        "sampling_time": sampling_time,
        "thin": int(thin),
        "n_cov_steps": int(n_cov_steps),
        "n_temperatures": int(R),
        "resolution": [float(v) for v in res],
        "sweeps_total": int(chains * R * (tune + draws * thin)),
        "cov_step_sizes": [float(v) for v in np.median(np.stack([s[0] for s in steps]), axis=0)],
        "cov_acceptance": [float(v) for v in (acc_sums / max(draws, 1)).mean(axis=0)],
    }
    if sm_rate > 0.0:
        tot = np.sum(sm_counts, axis=0)
        attrs.update(
            {
                "split_merge": sm_rate,
                "split_merge_scale": sm_scale,
                # kept sweeps: split proposals, accepted, merge proposals, accepted (all chains)
                "split_merge_counts": [int(v) for v in tot],
                "split_merge_counts_per_chain": [[int(v) for v in sc] for sc in sm_counts],
            }
        )
    if R > 1:
        tot = np.sum(swaps, axis=0)
        attrs.update(
            {
                "betas": [float(b) for b in betas],
                "ladders": ladders,
                "swap_acceptance": [float(v) for v in 1.0 - tot[:, 0] / np.maximum(tot[:, 1], 1.0)],
                "round_trips": [int(tr[R]) for tr in trips],
                "barrier": float(np.sum(tot[:, 0] / np.maximum(tot[:, 1], 1.0))),
            }
        )
    return _tree(posterior, stats, attrs)
