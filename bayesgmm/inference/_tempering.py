"""Replica exchange (parallel tempering) for multimodal mixture posteriors.

Each chain is an independent parallel-tempering run over ``M`` replicas of the
model whose *likelihood* is tempered and whose prior is not,

    pi_beta(theta)  proportional to  p(theta) p(X | theta)^beta,   1 = beta_0 > ... > beta_{M-1} = 0,

so the hottest replica samples the (proper) prior and the coldest the
posterior. Every iteration

1. moves every replica by Hamiltonian Monte Carlo at its own temperature
   (leapfrog with a per-replica diagonal metric and step size, a random number
   of steps shared by the batch), all replicas of all chains evaluated in *one*
   call of the density's batched log density
   (:meth:`bayesgmm._logdensity.MixtureDensity.logp_and_grad_batch`);
2. proposes swaps between neighbouring temperatures with the
   *non-reversible* deterministic even-odd scheme (DEO) of Okabe et al. (2001)
   and Syed, Bouchard-Cote, Deligiannidis and Doucet (2022): even pairs on even
   iterations, odd pairs on odd ones; a swap of ``(i, i+1)`` is accepted with
   probability ``min(1, exp((beta_i - beta_{i+1}) (loglik_{i+1} - loglik_i)))``.

During the warm-up (``tune`` iterations) the step sizes are tuned by dual
averaging to an acceptance rate, the diagonal metrics are re-estimated from the
replicas' draws in growing windows, and the temperature ladder is moved so
that every neighbouring pair has the same rejection rate (Syed et al. 2022,
Algorithm 4: the inverse temperatures are equally spaced in the estimated
cumulative communication barrier ``Lambda(beta)``). After the warm-up all is
fixed and the kept draws are the coldest replica's, a valid Markov chain for
the posterior.

The density is any object with ``ndim`` and
``logp_and_grad_batch(xs, scales, with_logp=...) -> (logp, grad, loglik)``,
plus ``unpack`` for the result tree, so a faster (compiled) density can be
dropped in.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

from bayesgmm.exceptions import TemperingWarning
from bayesgmm.inference._common import _blas_one_thread, _check_int, _progress
from bayesgmm.inference._results import _draws_to_dataset, _tree
from bayesgmm.inference._starts import _jitter_scale, pulled_in, start_floor

#: Default number of temperatures per chain (the coldest is the posterior, the hottest the prior).
DEFAULT_N_TEMPERATURES = 8
SWAP_SCHEMES = ("deo", "seo")
#: Fractions of the warm-up after which the metric and the ladder are re-estimated
#: (the last half tunes the step sizes alone).
_CHECKPOINTS = (0.1, 0.2, 0.35, 0.5)
_DIVERGENCE = 1000.0  # energy error (nats) that counts as a divergent trajectory


def _initial_ladder(n_temperatures, n_obs):
    """Geometric from 1 down to 1/N, then 0 (the prior)."""
    if n_temperatures == 1:
        return np.array([1.0])
    if n_temperatures == 2:
        return np.array([1.0, 0.0])
    lo = 1.0 / max(n_obs, 2)
    b = lo ** (np.arange(n_temperatures - 1) / (n_temperatures - 2))
    return np.append(b, 0.0)


def _ladder_from_rejections(betas, rejection):
    """Inverse temperatures equally spaced in the cumulative barrier (Syed et al. 2022, Alg. 4).

    ``betas`` decreasing from 1 to its minimum, ``rejection[i]`` the mean
    rejection probability of swaps between ``betas[i]`` and ``betas[i + 1]``.
    ``Lambda`` is piecewise linear in ``beta``; returns the new ladder and the
    estimated global barrier ``Lambda(1)``.
    """
    b = betas[::-1]  # increasing
    r = np.clip(np.asarray(rejection, dtype=float)[::-1], 1e-3, None)  # a floor keeps Lambda strictly increasing
    cum = np.concatenate([[0.0], np.cumsum(r)])
    barrier = float(cum[-1])
    targets = np.linspace(0.0, barrier, len(betas))
    new = np.interp(targets, cum, b)
    new[0], new[-1] = b[0], b[-1]
    return new[::-1].copy(), float(np.sum(np.asarray(rejection, dtype=float)))


class _DualAveraging:
    """Nesterov dual averaging of log step sizes (Hoffman & Gelman 2014), vectorised."""

    def __init__(self, step, target, gamma=0.05, t0=10.0, kappa=0.75):
        self.target, self.gamma, self.t0, self.kappa = target, gamma, t0, kappa
        self.restart(step)

    def restart(self, step):
        self.mu = np.log(10.0 * step)
        self.t = 0
        self.hbar = np.zeros_like(step)
        self.log_bar = np.log(step)
        self.step = step.copy()

    def update(self, accept):
        self.t += 1
        t = self.t
        eta = 1.0 / (t + self.t0)
        self.hbar = (1 - eta) * self.hbar + eta * (self.target - accept)
        log_step = self.mu - np.sqrt(t) / self.gamma * self.hbar
        w = t ** (-self.kappa)
        self.log_bar = w * log_step + (1 - w) * self.log_bar
        self.step = np.exp(log_step)
        return self.step

    def final(self):
        return np.exp(self.log_bar)


def _checked_starts(dens, x0, offsets, betas, jitter):
    """The replicas' starting points: chain ``c``'s at ``x0 + offsets[c]`` at every temperature,
    its offset halved (:func:`~bayesgmm.inference._starts.pulled_in`) until the start's
    tempered log densities are no more than
    :func:`~bayesgmm.inference._starts.start_floor` nats below ``x0``'s at every
    temperature.

    Returns ``(xs, logp, grad, loglik)`` of the ``C * M`` replicas (slot ``c * M + m``) and
    the number of halvings of each chain's offset.
    """
    C, M = offsets.shape[0], len(betas)
    lp0 = dens.logp_and_grad_batch(np.repeat(x0[None, :], M, axis=0), betas)[0]
    if not np.all(np.isfinite(lp0)):
        raise RuntimeError(
            "the tempering sampler's starting point has a non-finite log density; try another "
            "random_state, a smaller jitter or fewer components."
        )
    floor = lp0 - start_floor(dens.ndim, jitter)

    def too_far(c, offset):
        lp = dens.logp_and_grad_batch(np.repeat((x0 + offset)[None, :], M, axis=0), betas)[0]
        return not np.all(lp >= floor)  # NaN or -inf: too far

    offsets, halvings = pulled_in(offsets, too_far)
    xs = np.repeat(x0 + offsets, M, axis=0)
    lp, grad, ll = dens.logp_and_grad_batch(xs, np.tile(betas, C))
    return xs, lp, grad, ll, halvings


def _initial_metric(dens, x0, betas):
    """Approximate variances of each tempered target at ``x0``: 1 / -diag(Hessian).

    Central differences of the gradient, all temperatures and coordinates in
    one batch; the difference step is relative to the coordinate's own scale
    so that the result does not depend on the data's units.
    """
    n, M = dens.ndim, len(betas)
    h = 1e-4 * np.maximum(np.abs(x0), 1e-3 * np.max(np.abs(x0), initial=1.0))
    h = np.where(h > 0, h, 1e-4)
    E = np.diag(h)
    pts = np.concatenate([x0 + E, x0 - E])  # (2n, ndim)
    P = np.tile(pts, (M, 1))
    sc = np.repeat(betas, 2 * n)
    _, g, _ = dens.logp_and_grad_batch(P, sc, with_logp=False)
    g = g.reshape(M, 2, n, n)
    curv = -(g[:, 0, np.arange(n), np.arange(n)] - g[:, 1, np.arange(n), np.arange(n)]) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = 1.0 / curv
    ok = np.isfinite(var) & (var > 0)
    # fall back to the coldest valid variance inflated by the temperature, then to h-scaled 1
    cold = np.where(ok[0], var[0], (h / 1e-4) ** 2)
    infl = 1.0 / np.maximum(betas, 1e-6)
    var = np.where(ok, var, cold[None, :] * infl[:, None])
    return var


def _relabelled_window(dens, window, refs, betas_r):
    """The warm-up window's draws with each draw's components permuted to match its chain's
    reference (``refs[r]``, unpacked), for the metric estimate only.

    A replica that switched labels during the window (swaps bring states from hot
    temperatures, where labels mix) would otherwise give the metric the spread between
    the label-switched modes (distances between component means) instead of the
    posterior's own scale: the step sizes then blow up in those coordinates and most
    trajectories diverge. Relabelling is a function of the draws used by the adaptation
    only, so the sampler stays valid. The prior's replica (``beta == 0``) is left alone:
    its means are one unimodal cloud. Needs the density's ``pack``/``unpack``.
    """
    from bayesgmm.inference._starts import _aligned

    W = np.stack(window)  # (n, R, nd)
    if not (hasattr(dens, "pack") and hasattr(dens, "unpack")) or dens.n_components < 2:
        return W
    out = W.copy()
    for r in np.flatnonzero(betas_r > 0):
        for i in range(W.shape[0]):
            par = dens.unpack(W[i, r])
            al = _aligned(refs[r], par)
            if np.any(al["weights"] != par["weights"]) or np.any(al["means"] != par["means"]):
                out[i, r] = dens.pack(al["weights"], al["means"], al["covariances"])
    return out


class _Relabeller:
    """Exact permutations of mixture components in the density's unconstrained coordinates.

    Used by the aligned swaps, which need label-symmetric targets: ``for_density``
    returns ``None`` (plain swaps) when the Dirichlet concentrations differ.

    ``x = [z (K-1), means (K*D), covariance block]`` with the weights' softmax
    coordinates ``v = [z, -sum z]`` (sum zero): a permutation of ``v`` keeps the sum,
    so ``z' = v[perm][:-1]`` is exact; the means' rows are permuted; the covariance
    block's coordinate map is found once per permutation by a probe (a per-component
    layout is a permutation of indices; a shared covariance maps to itself). ``None``
    where the density has no such layout (then swaps are plain).
    """

    def __init__(self, dens):
        self.dens = dens
        self.K, self.D = int(dens.n_components), int(dens.n_features)
        self.scale = np.sqrt(np.var(np.asarray(dens.X, dtype=np.float64), axis=0)) + 1e-300
        self._index = {}

    @classmethod
    def for_density(cls, dens):
        need = ("n_components", "n_features", "X", "_i_w", "_i_mu", "_i_cov", "_cov", "unpack")
        if not all(hasattr(dens, a) for a in need) or int(dens.n_components) < 2:
            return None
        # the aligned swap is exact only for label-symmetric targets: equal Dirichlet
        # concentrations (the other priors are shared by the components)
        alpha = np.asarray(getattr(getattr(dens, "priors", None), "weights_alpha", np.nan), dtype=float)
        if alpha.ndim > 1 or not np.all(np.isfinite(alpha)) or np.ptp(alpha) != 0:
            return None
        return cls(dens)

    def _cov_index(self, perm):
        key = tuple(int(i) for i in perm)
        if key not in self._index:
            d, K, D = self.dens, self.K, self.D
            rng = np.random.default_rng(0)
            u = rng.normal(scale=0.3, size=d._i_cov.stop - d._i_cov.start)
            L = d._cov.chol_from_unconstrained(u, K, D)
            cov = np.asarray(L @ np.swapaxes(L, -1, -2))
            u2 = d._cov.unconstrained_from_covariances(cov[np.asarray(perm)], K, D)
            idx = np.array([int(np.argmin(np.abs(u - v))) for v in u2])
            if not np.allclose(u[idx], u2, rtol=1e-8, atol=1e-10):
                idx = None
            self._index[key] = idx
        return self._index[key]

    def features(self, x):
        """Per-component features: means in data sds, log weights (up to a constant shared
        by the components) and log sds."""
        d = self.dens
        z = x[d._i_w]
        v = np.append(z, -z.sum())
        mu = x[d._i_mu].reshape(self.K, self.D) / self.scale
        log_sd = np.log(d.unpack(x)["sds"] / self.scale)
        return np.concatenate([mu, v[:, None], log_sd], axis=1)

    def align(self, ref, x):
        """The permutation ``perm`` (new component k = old perm[k]) of ``x`` closest to ``ref``:
        Hungarian assignment on the squared distance between the components' means (in data
        sds), log weights and log sds. The cost is symmetric and commutes with relabelling,
        as the swap's involution needs; with the weights and sds in it a nearly empty
        component (mean wandering under its prior) is not matched to an occupied one."""
        from scipy.optimize import linear_sum_assignment

        a, b = self.features(ref), self.features(x)
        cost = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
        _, perm = linear_sum_assignment(cost)
        return perm

    def permute(self, x, perm):
        """``x`` with its components permuted (None when the covariance layout is unknown)."""
        d, K, D = self.dens, self.K, self.D
        idx = self._cov_index(perm)
        if idx is None:
            return None
        z = x[d._i_w]
        v = np.append(z, -z.sum())[perm]
        out = np.empty_like(x)
        out[d._i_w] = v[:-1]
        out[d._i_mu] = x[d._i_mu].reshape(K, D)[perm].ravel()
        out[d._i_cov] = x[d._i_cov][idx]
        return out


def _tempering(
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
    n_temperatures=DEFAULT_N_TEMPERATURES,
    n_leapfrog=10,
    target_accept=0.75,
    swap_scheme="deo",
    adapt_ladder=True,
    betas=None,
    align_swaps=True,
    **kwargs,
):
    if kwargs:
        raise TypeError(
            f"method='tempering' got unexpected keyword argument(s) {sorted(kwargs)}; it accepts "
            "n_temperatures, n_leapfrog, target_accept, swap_scheme, adapt_ladder, betas, align_swaps "
            "and jitter."
        )
    M = _check_int(n_temperatures, "n_temperatures", 1) if betas is None else len(betas)
    n_leapfrog = _check_int(n_leapfrog, "n_leapfrog", 1)
    target_accept = float(target_accept)
    if not 0.0 < target_accept < 1.0:
        raise ValueError(f"target_accept must be in (0, 1), got {target_accept}.")
    if swap_scheme not in SWAP_SCHEMES:
        raise ValueError(f"swap_scheme must be one of {list(SWAP_SCHEMES)}, got {swap_scheme!r}.")
    if not isinstance(adapt_ladder, bool):
        raise TypeError(f"adapt_ladder must be True or False, got {adapt_ladder!r}.")
    if not isinstance(align_swaps, bool):
        raise TypeError(f"align_swaps must be True or False, got {align_swaps!r}.")
    n_obs = getattr(dens, "X", np.empty((1000, 1))).shape[0]
    if betas is None:
        ladder = _initial_ladder(M, n_obs)
    else:
        ladder = np.asarray(betas, dtype=float).ravel()
        if (
            ladder.size < 1 or not np.all(np.isfinite(ladder)) or ladder[0] != 1.0
            or np.any(np.diff(ladder) >= 0) or ladder[-1] < 0
        ):
            raise ValueError(
                "betas must be strictly decreasing inverse temperatures starting at 1.0 and "
                f"ending at >= 0 (e.g. [1.0, 0.3, 0.1, 0.0]); got {np.asarray(betas)!r}."
            )
        M = ladder.size
    C, nd = chains, dens.ndim
    R = C * M
    rng = np.random.default_rng(seed_sampler)
    sd0 = _jitter_scale(dens, x0, jitter)
    start_rng = np.random.default_rng(seed_jitter)
    offsets = np.stack([jitter * sd0 * start_rng.standard_normal(nd) for _ in range(C)])

    with _blas_one_thread():
        inv_metric = np.tile(_initial_metric(dens, x0, ladder), (C, 1))  # (R, nd), slot r = c * M + m
        setup_time = time.perf_counter() - t0
        t1 = time.perf_counter()
        xs, lp, grad, ll, start_halvings = _checked_starts(dens, x0, offsets, ladder, jitter)
        # each replica's labelling reference for the metric estimate: its chain's start
        refs = [dens.unpack(xs[r - r % M]) for r in range(R)] if hasattr(dens, "unpack") else None
        relabeller = _Relabeller.for_density(dens) if align_swaps else None
        n_aligned = 0
        beta_r = np.tile(ladder, C)
        prior = lp - beta_r * ll
        da = _DualAveraging(np.full(R, 0.5 / nd**0.25), target_accept)
        step = da.step.copy()
        # Welford sums of each slot's draws for the metric, swap statistics for the ladder
        window = []  # each slot's draws since the last checkpoint, for the metric
        rej_sum, rej_cnt = np.zeros(max(M - 1, 1)), np.zeros(max(M - 1, 1))
        checkpoints = sorted({int(round(f * tune)) for f in _CHECKPOINTS if int(round(f * tune)) > 0})
        barrier = float("nan")
        # round trips: which replica sits in each slot and the last end it touched
        label = np.tile(np.arange(M), (C, 1))
        # -1: not yet at the cold end; 0: at the cold end last; 1: at the hot end since
        last_end = np.tile(np.where(np.arange(M) == 0, 0, -1), (C, 1))
        round_trips = np.zeros(C, dtype=np.int64)
        post_swap_acc, post_swap_cnt = np.zeros(max(M - 1, 1)), np.zeros(max(M - 1, 1))
        post_swap_done = np.zeros(max(M - 1, 1), dtype=np.int64)
        out_x = np.empty((C, draws, nd))
        st = {k: np.empty((C, draws)) for k in ("lp", "acceptance_rate", "step_size", "n_steps")}
        st["diverging"] = np.zeros((C, draws), dtype=bool)
        st["swap_accepted"] = np.zeros((C, draws), dtype=bool)
        n_steps_total = 0
        bar = _progress(progressbar, tune + draws, "tempering")
        lo = max(1, n_leapfrog // 2)
        hi = max(lo, (3 * n_leapfrog) // 2)

        for it in range(tune + draws):
            warm = it < tune
            # ---- HMC move of every replica at its own temperature
            L_steps = int(rng.integers(lo, hi + 1))
            eps = step * rng.uniform(0.9, 1.1, size=R)
            p = rng.standard_normal((R, nd)) / np.sqrt(inv_metric)
            H0 = -lp + 0.5 * np.sum(p * p * inv_metric, axis=1)
            x, g = xs.copy(), grad
            p = p + 0.5 * eps[:, None] * g
            invalid = np.zeros(R, dtype=bool)
            for i in range(L_steps):
                x += eps[:, None] * inv_metric * p
                last = i == L_steps - 1
                lp_new, g, ll_new = dens.logp_and_grad_batch(x, beta_r, with_logp=last)
                invalid |= np.isneginf(lp_new)
                p += (0.5 if last else 1.0) * eps[:, None] * g
            n_steps_total += L_steps * R
            with np.errstate(over="ignore", invalid="ignore"):
                H1 = -lp_new + 0.5 * np.sum(p * p * inv_metric, axis=1)
                dH = H1 - H0
            with np.errstate(invalid="ignore", over="ignore"):
                accept_prob = np.where(invalid | ~np.isfinite(dH), 0.0, np.exp(np.minimum(0.0, -dH)))
            diverging = invalid | ~np.isfinite(dH) | (dH > _DIVERGENCE)
            acc = rng.random(R) < accept_prob
            xs[acc], lp[acc], grad[acc], ll[acc] = x[acc], lp_new[acc], g[acc], ll_new[acc]
            prior[acc] = lp[acc] - beta_r[acc] * ll[acc]
            rec_accept, rec_div, rec_step = accept_prob[::M].copy(), diverging[::M].copy(), eps[::M].copy()

            if warm:
                step = da.update(accept_prob)
                window.append(xs.copy())

            # ---- swaps between neighbouring temperatures
            swapped = np.zeros(R, dtype=bool)
            cold_swap = np.zeros(C, dtype=bool)
            if M > 1:
                parity = it % 2 if swap_scheme == "deo" else int(rng.integers(2))
                pairs = np.arange(parity, M - 1, 2)
                if pairs.size:
                    i = (np.arange(C)[:, None] * M + pairs[None, :]).ravel()
                    j = i + 1
                    with np.errstate(invalid="ignore"):
                        log_a = (beta_r[i] - beta_r[j]) * (ll[j] - ll[i])
                    log_a = np.where(np.isfinite(log_a), log_a, -np.inf)
                    a_prob = np.exp(np.minimum(0.0, log_a))
                    do = np.log(rng.random(i.size)) < log_a
                    pidx = np.tile(pairs, C)
                    if warm:
                        np.add.at(rej_sum, pidx, 1.0 - a_prob)
                        np.add.at(rej_cnt, pidx, 1.0)
                    else:
                        np.add.at(post_swap_acc, pidx, a_prob)
                        np.add.at(post_swap_cnt, pidx, 1.0)
                        np.add.at(post_swap_done, pidx, do.astype(np.int64))
                    si, sj = i[do], j[do]
                    for arr in (xs, ll, prior):
                        arr[si], arr[sj] = arr[sj].copy(), arr[si].copy()
                    if relabeller is not None:
                        # aligned swap: the state coming into slot i is permuted to the
                        # labelling of the one leaving it, and the one going to slot j by
                        # the inverse permutation. (a, b) -> (P b, P^-1 a) with P aligning b
                        # to a is an involution (the alignment is symmetric and equivariant)
                        # with unit Jacobian, and the targets are label-symmetric: its
                        # acceptance is the plain swap's. The cold replica then never
                        # receives a label-switched state, which its component-wise metric
                        # and step size do not fit.
                        for a_, b_ in zip(si, sj):
                            # after the exchange xs[a_] holds the incoming b, xs[b_] the outgoing a
                            perm = relabeller.align(xs[b_], xs[a_])
                            if np.any(perm != np.arange(perm.size)):
                                inv = np.argsort(perm)
                                pa, pb = relabeller.permute(xs[a_], perm), relabeller.permute(xs[b_], inv)
                                if pa is not None and pb is not None:
                                    xs[a_], xs[b_] = pa, pb
                                    n_aligned += 1
                    lab = label.reshape(-1)
                    lab[si], lab[sj] = lab[sj].copy(), lab[si].copy()
                    swapped[si] = swapped[sj] = True
                    cold_swap = swapped[::M].copy()
                    lp = prior + beta_r * ll
                    if swapped.any():
                        _, grad[swapped], _ = dens.logp_and_grad_batch(xs[swapped], beta_r[swapped], with_logp=False)
                        n_steps_total += int(swapped.sum())
                # round trips: a replica at the cold end that last touched the hot end completes one
                for c in range(C):
                    hot_lab, cold_lab = label[c, M - 1], label[c, 0]
                    if last_end[c, hot_lab] == 0:
                        last_end[c, hot_lab] = 1
                    if last_end[c, cold_lab] == 1 and not warm:
                        round_trips[c] += 1
                    last_end[c, cold_lab] = 0

            # ---- warm-up checkpoints: metric, ladder, restart the step-size adaptation
            if warm and (it + 1) in checkpoints:
                if len(window) >= 10:
                    # a robust variance (interquartile range): a few draws in another mode
                    # must not widen a temperature's metric far beyond its main mode
                    q1, q3 = np.quantile(_relabelled_window(dens, window, refs, beta_r), [0.25, 0.75], axis=0)
                    var = ((q3 - q1) / 1.349) ** 2
                    n_w = len(window)
                    # shrink towards the previous metric, scale-free (Stan's regularisation, relative)
                    var = (n_w / (n_w + 5.0)) * var + (5.0 / (n_w + 5.0)) * 1e-3 * inv_metric
                    ok = np.isfinite(var) & (var > 0)
                    inv_metric = np.where(ok, var, inv_metric)
                window = []
                if adapt_ladder and betas is None and M > 2 and np.all(rej_cnt > 0):
                    ladder, barrier = _ladder_from_rejections(ladder, rej_sum / rej_cnt)
                    beta_r = np.tile(ladder, C)
                    lp = prior + beta_r * ll
                    _, grad, _ = dens.logp_and_grad_batch(xs, beta_r, with_logp=False)
                    n_steps_total += R
                elif M > 1 and np.all(rej_cnt > 0):
                    barrier = float(np.sum(rej_sum / rej_cnt))
                rej_sum[:], rej_cnt[:] = 0.0, 0.0
                da.restart(step)
            if warm and it + 1 == tune:
                step = da.final()

            if not warm:
                s = it - tune
                out_x[:, s] = xs[::M]
                st["lp"][:, s] = lp[::M]
                st["acceptance_rate"][:, s] = rec_accept
                st["step_size"][:, s] = rec_step
                st["n_steps"][:, s] = L_steps
                st["diverging"][:, s] = rec_div
                st["swap_accepted"][:, s] = cold_swap
            if bar is not None:
                bar.update(1)
        if bar is not None:
            bar.close()
    sampling_time = time.perf_counter() - t1

    swap_rate = np.where(post_swap_cnt > 0, post_swap_acc / np.maximum(post_swap_cnt, 1), np.nan)
    if M > 1 and np.all(post_swap_cnt > 0):
        barrier_post = float(np.sum(1.0 - swap_rate))
    else:
        barrier_post = barrier
    _warn_tempering(M, draws, round_trips, barrier_post, swap_rate)

    import xarray as xr

    posterior = _draws_to_dataset(dens, out_x)
    coords = {"chain": np.arange(C), "draw": np.arange(draws)}
    stats = xr.Dataset(
        {k: (("chain", "draw"), v.astype(np.int64) if k == "n_steps" else v) for k, v in st.items()},
        coords=coords,
    )
    attrs = {
        "method": "tempering",
        "setup_time": setup_time,
        "sampling_time": sampling_time,
        "n_steps_total": int(n_steps_total),
        "n_temperatures": int(M),
        "betas": [float(b) for b in ladder],
        "swap_scheme": swap_scheme,
        "aligned_swaps": int(n_aligned),
        "swap_acceptance": [float(a) for a in np.atleast_1d(swap_rate)] if M > 1 else [],
        "swaps_accepted": [int(v) for v in post_swap_done] if M > 1 else [],
        "round_trips": [int(r) for r in round_trips],
        "start_halvings": [int(h) for h in start_halvings],
        "communication_barrier": float(barrier_post) if M > 1 else 0.0,
        "step_sizes": [float(v) for v in np.asarray(step).reshape(C, M).mean(axis=0)],
    }
    return _tree(posterior, stats, attrs)


def _warn_tempering(M, draws, round_trips, barrier, swap_rate):
    """Warn when the temperatures did not communicate (few round trips, a ladder too short)."""
    if M < 2:
        return
    total = int(np.sum(round_trips))
    if total == 0:
        warnings.warn(
            f"No replica travelled from the posterior to the prior and back in {draws} draws "
            f"of any chain ({M} temperatures, swap acceptance between neighbours "
            f"{np.nanmin(swap_rate):.2f}-{np.nanmax(swap_rate):.2f}): the tempering may not have "
            "moved the posterior between its modes. Increase n_temperatures (e.g. "
            f"n_temperatures={max(M + 4, int(np.ceil(2 * barrier)) + 2)}) or draws.",
            TemperingWarning,
            stacklevel=4,
        )
    elif np.isfinite(barrier) and M < barrier + 1:
        warnings.warn(
            f"The communication barrier is {barrier:.1f} with only {M} temperatures (the "
            "swaps are the bottleneck; Syed et al. 2022 recommend about 2 x barrier "
            f"temperatures). Set n_temperatures={int(np.ceil(2 * barrier)) + 1} for better mixing "
            "between modes.",
            TemperingWarning,
            stacklevel=4,
        )

