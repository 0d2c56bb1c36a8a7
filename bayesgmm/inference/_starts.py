"""Starting points: the EM fit that starts the posterior, chain starts and their jitter, seeds.

Every chain (and every VI fit) starts at an EM estimate: the caller's, or the
one :func:`em_start` fits.  NUTS chains start at *distinct* optima where the EM
restarts found several (:func:`distinct_optima`): chain 0 at the best, chain
``c`` at the ``c``-th best distinct optimum, relabelled against the best; the
chains left over start at over-dispersed points around the best (``dispersion``
posterior sds, default 1).  Every start gets a small seeded jitter; both are in
units of the approximate posterior sd from the local curvature
(:func:`_curvature_scale`), which is scale-free: no absolute bound anywhere, so
data scaled by 1e-12 or 1e12 get the same starts relative to their scale.  A start
that lies more than :func:`start_floor` nats below its optimum (where the log density
is nearly linear there, e.g. at a collapsed component) is pulled in
(:func:`pulled_in`), for NUTS (:func:`_chain_starts`) and tempering alike.
"""

from __future__ import annotations

import numpy as np

from bayesgmm._data import orient
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em._init import DEFAULT_N_INIT, check_n_init
from bayesgmm.inference._common import _blas_one_thread

#: EM starts of the default starting fit (:func:`em_start`): the package's one
#: default, :data:`bayesgmm.em.DEFAULT_N_INIT` (``"auto"``; also GaussianMixture's,
#: BayesianGMM's, select_components' and the CLI's).
EM_START_N_INIT = DEFAULT_N_INIT


def initial_reg_covar(X) -> float:
    """``reg_covar`` for the EM fit that starts the chains: 1e-6 x the mean feature variance.

    The priors are scale-free, so the initialising EM's regulariser must be too: an
    absolute ``reg_covar=1e-6`` collapses data of scale 1e-8 onto its mean.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.inference import initial_reg_covar
    >>> initial_reg_covar(np.array([[0.0], [2e-3]]))
    1e-12
    """
    # rows are observations by the one orientation rule (a (feature, obs) DataArray too)
    arr = np.asarray(orient(X), dtype=np.float64)
    var = np.nanvar if np.isnan(arr).any() else np.var  # missing values: of the observed ones
    data_var = float(np.mean(var(arr, axis=0)))
    return 1e-6 * data_var if np.isfinite(data_var) and data_var > 0 else 1e-6


def em_start(X, n_components, covariance_type="full", *, n_init=EM_START_N_INIT, random_state=None,
             reg_covar=None, missing="error", noise=False, noise_hypervolume=None):
    """The default EM fit that starts the posterior.

    :class:`bayesgmm.GaussianMixture` with ``n_init`` starts and the
    scale-free regulariser :func:`initial_reg_covar` of ``X``.
    ``run_inference(init=None)`` uses it with the default ``n_init``;
    :meth:`bayesgmm.BayesianGMM.fit` passes its own ``n_init``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (DataFrame column names are kept by the fit).
    n_components : int
    covariance_type : str or CovarianceModel, default="full"
    n_init : int or "auto", default=EM_START_N_INIT ("auto")
        EM starts; the best is returned. ``"auto"``: as many as a fixed amount
        of work allows (:func:`bayesgmm.em._init.auto_n_init`: at most 20, and up to 60
        where their maxima differ, :func:`bayesgmm.em._init.rugged`).
    random_state : int, numpy Generator, RandomState or None
    reg_covar : float or None, default None
        EM's covariance regulariser; ``None``: :func:`initial_reg_covar` of ``X``.
    missing : {"error", "marginalize"}, default "error"
        ``GaussianMixture``'s ``missing``: NaN in ``X`` raise, or are missing
        values integrated out.
    noise, noise_hypervolume : optional
        The uniform noise component (:class:`bayesgmm.GaussianMixture`'s
        parameters of these names; off by default).

    Returns
    -------
    bayesgmm.GaussianMixture
        Fitted.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.inference import em_start
    >>> rng = np.random.default_rng(0)
    >>> X = np.concatenate([rng.normal(-3, 1, (50, 1)), rng.normal(3, 1, (50, 1))])
    >>> em = em_start(X, 2, "spherical", random_state=0)
    >>> np.sort(em.means_[:, 0]).round(0)
    array([-3.,  3.])
    """
    from bayesgmm.em import GaussianMixture

    return GaussianMixture(
        n_components, covariance_type=covariance_type, n_init=check_n_init(n_init), random_state=random_state,
        reg_covar=initial_reg_covar(X) if reg_covar is None else float(reg_covar),
        missing=missing,
        **({"noise": True, "noise_hypervolume": noise_hypervolume} if noise else {}),
    ).fit(X)


def _init_params(init, dens: MixtureDensity, random_seed):
    """The unconstrained start from an EM fit, a dict, or None (:func:`em_start` on ``dens.X``)."""
    return _init_points(init, dens, random_seed)[0]


def _init_points(init, dens: MixtureDensity, random_seed):
    """``(x0, optima)``: the best start and the distinct EM optima (:func:`distinct_optima`),
    ``[(x0, nan)]`` for a dict start."""
    K, D, ct = dens.n_components, dens.n_features, dens.covariance_type
    if init is None:
        init = em_start(dens.X, K, ct, random_state=random_seed)
    if isinstance(init, dict):
        try:
            w, mu, cov = init["weights"], init["means"], init["covariances"]
        except KeyError as err:
            raise ValueError(
                f"init as a dict needs keys 'weights', 'means', 'covariances'; missing {err}."
            ) from None
    else:
        missing = [a for a in ("weights_", "means_", "covariances_") if not hasattr(init, a)]
        if missing:
            raise TypeError(
                f"init must be a fitted GaussianMixture (with weights_, means_, covariances_), a dict "
                f"or None; got {type(init).__name__} without {missing}. Fit it first: init.fit(X)."
            )
        w, mu, cov = init.weights_, init.means_, init.covariances_
        init_ct = getattr(init, "covariance_type", ct)
        if init_ct != ct:
            raise ValueError(
                f"init was fitted with covariance_type={init_ct!r} but inference uses {ct!r}; "
                "fit EM with the same covariance_type."
            )
    try:
        x0 = dens.pack(w, mu, cov)
    except ValueError as err:
        raise ValueError(f"init does not match the model (K={K}, D={D}, {ct!r}): {err}") from None
    if isinstance(init, dict):
        return x0, [(x0, float("nan"))]
    optima = distinct_optima(init, dens)
    return x0, [(x0, optima[0][1])] + optima[1:]


def _pymc_initvals(dens: MixtureDensity, x):
    """Constrained initial values keyed by the PyMC model's free variable names."""
    p = dens.unpack(x)
    cov = get_covariance_type(dens.covariance_type).pymc_initvals(p["chol"])
    if "noise_weight" in p:  # build_model's K + 1 weights, the noise last
        return {"mixing_weights": np.append(p["weights"], p["noise_weight"]), "means": p["means"], **cov}
    return {"weights": p["weights"], "means": p["means"], **cov}


def _mean_coordinates(dens: MixtureDensity, x0) -> np.ndarray:
    """Mask of the unconstrained coordinates that move the component means (in data units)."""
    base = dens.unpack(x0)["means"]
    mask = np.zeros(dens.ndim, dtype=bool)
    for i in range(dens.ndim):
        e = np.zeros(dens.ndim)
        e[i] = 1e-3
        mask[i] = not np.array_equal(dens.unpack(x0 + e)["means"], base)
    return mask


#: Finite-difference steps of :func:`_curvature_scale`, as a fraction of the
#: coordinate's own posterior sd (refined until the step is this small).
_FD_RELATIVE_STEP = 1e-3


def _curvature_scale(dens: MixtureDensity, x0, X=None, scale=1.0):
    """Approximate posterior sd per unconstrained coordinate: 1/sqrt(-diag Hessian) at x0.

    Central differences of the analytic gradient (2 * ndim gradient calls per
    pass).  Scale-free: the difference step of each coordinate starts at
    ``1e-4 * max(1, |x0_i|)`` and is refined to ``1e-3`` of the coordinate's
    own sd (a step far larger than the sd, as for data of scale 1e-12, is
    shrunk until the curvature is positive; one at the rounding level of
    ``x0_i`` is grown), so the result follows the posterior's scale with no
    absolute bound.  A coordinate whose curvature stays non-positive (a flat
    or non-convex direction) gets 0.1 in the unconstrained units, or 0.1 data
    sd for a coordinate of the component means.
    """
    x0 = np.asarray(x0, dtype=np.float64)
    n = dens.ndim
    eps = np.finfo(np.float64).eps
    floor = 1e3 * eps * np.maximum(np.abs(x0), np.finfo(np.float64).tiny)  # rounding level of x0_i
    h = np.maximum(1e-4 * np.maximum(1.0, np.abs(x0)), floor)
    sd = np.full(n, np.nan)
    todo = np.ones(n, dtype=bool)
    for _ in range(60):
        if not todo.any():
            break
        for i in np.flatnonzero(todo):
            e = np.zeros(n)
            e[i] = h[i]
            with np.errstate(all="ignore"):
                gp = dens.logp_and_grad(x0 + e, X=X, scale=scale)[1][i]
                gm = dens.logp_and_grad(x0 - e, X=X, scale=scale)[1][i]
                curv = -(gp - gm) / (2 * h[i])
            if np.isfinite(curv) and curv > 0:
                s_i = 1.0 / np.sqrt(curv)
                target = max(_FD_RELATIVE_STEP * s_i, floor[i])
                if np.isfinite(s_i) and (h[i] <= 10 * target or h[i] <= floor[i]):
                    sd[i] = s_i
                    todo[i] = False
                else:
                    h[i] = target  # step too coarse for this coordinate's scale: refine
            elif h[i] > floor[i]:
                h[i] = max(h[i] * 1e-3, floor[i])  # way past the mode's width: shrink
            else:
                todo[i] = False  # flat or non-convex at the rounding level
    bad = ~np.isfinite(sd) | (sd <= 0)
    if bad.any():
        data_sd = float(np.sqrt(np.mean(np.var(dens.X, axis=0))))
        data_sd = data_sd if np.isfinite(data_sd) and data_sd > 0 else 1.0
        sd[bad] = np.where(_mean_coordinates(dens, x0)[bad], 0.1 * data_sd, 0.1)
    return sd


def _jitter_scale(dens, x0, jitter):
    """Per-coordinate sd of the chains' starting jitter (zeros without jitter).

    The last result is kept on the (numpy) density, keyed by ``x0``: the chain
    starts and the sampler's rescaling (:mod:`bayesgmm.inference._nutpie`) ask
    for the same point, and at large N each costs hundreds of gradients.
    """
    if not jitter > 0:
        return np.zeros(dens.ndim)
    base = getattr(dens, "dens", dens)  # a CompiledDensity keeps its numpy density in .dens
    key = np.asarray(x0, dtype=np.float64).tobytes()
    cached = getattr(base, "_curvature_at", None)
    if cached is not None and cached[0] == key:
        return cached[1].copy()
    with _blas_one_thread():
        sd = _curvature_scale(dens, x0)
    try:
        base._curvature_at = (key, sd.copy())
    except AttributeError:  # a density that takes no attributes: no cache
        pass
    return sd


def _aligned(best, other, shared=False):
    """``other``'s components permuted to best match ``best``'s (means in units of best's sds)."""
    from scipy.optimize import linear_sum_assignment

    sd = np.sqrt(np.maximum(np.var(best["means"], axis=0), 0)) + 1e-300
    if not np.all(np.isfinite(sd)) or np.all(sd <= 1e-300):
        sd = np.ones_like(sd)
    cost = (((best["means"][:, None, :] - other["means"][None, :, :]) / sd) ** 2).sum(-1)
    cost = cost - np.log(np.maximum(other["weights"][None, :], 1e-300)) * 1e-9  # ties: deterministic
    _, perm = linear_sum_assignment(cost)
    cov = other["covariances"]
    if cov is not None and not shared:  # a shared (tied) covariance has no component axis
        cov = np.asarray(cov)[perm]
    return {**other, "weights": other["weights"][perm], "means": other["means"][perm], "covariances": cov}


#: :func:`distinct_optima`: an optimum whose Laplace-approximate posterior mass is
#: below this fraction of the best optimum's gets no chain (a chain started in a
#: mode of negligible mass stays there and only makes R-hat fail).
MIN_MASS_RATIO = 1e-3


def _log_laplace_mass(dens, x):
    """Laplace approximation of the log posterior mass of the mode at ``x``, diagonal
    Hessian: ``log p(x) + sum(log sd_i)`` (unconstrained coordinates; constants dropped)."""
    with _blas_one_thread():
        sd = _curvature_scale(dens, x)
    return float(dens.logp_and_grad(x)[0] + np.sum(np.log(sd)))


def distinct_optima(init, dens: MixtureDensity, *, window=None, min_mass_ratio=MIN_MASS_RATIO):
    """The distinct EM optima of ``init``'s restarts, best first, as unconstrained points.

    Restarts with a near-singular component, or whose log-likelihood is more than
    ``window`` nats (default ``0.5 * p * log N``, the BIC penalty of the ``p``
    free parameters) below the best, are left out, and so is an optimum whose
    posterior mass (Laplace approximation with a diagonal Hessian,
    :func:`_log_laplace_mass`) is below ``min_mass_ratio`` of the best's: a chain
    started in a mode of negligible mass stays there (on wine, K=3, 20 EM
    starts, an optimum 80 nats below the best inside the old window alone gave
    R-hat 2.0) and says nothing about the posterior.  Two restarts
    are the same optimum when their means (aligned) differ by less than 0.25 of
    the best fit's component sds, whatever their log-likelihoods (restarts stop
    at slightly different points of one optimum).  Each is relabelled (components permuted) against the best, as the
    draws are.

    Parameters
    ----------
    init : fitted GaussianMixture
        With its restarts recorded (``n_init`` > 1); otherwise only its optimum.
    dens : MixtureDensity

    Returns
    -------
    list of (ndarray, float)
        ``(x, mean log-likelihood per observation)``; the first is ``init``'s own
        optimum.
    """
    N = dens.X.shape[0]
    best = {"weights": np.asarray(init.weights_), "means": np.asarray(init.means_),
            "covariances": np.asarray(init.covariances_)}
    lb0 = float(getattr(init, "lower_bound_", np.nan))
    out = [(dens.pack(best["weights"], best["means"], best["covariances"]), lb0)]
    restarts = getattr(init, "_restarts", None) or []
    if not np.isfinite(lb0) or len(restarts) < 2:
        return out
    if window is None:
        p = get_covariance_type(dens.covariance_type).n_parameters(dens.n_components, dens.n_features)
        window = 0.5 * p * np.log(N)
    comp_sd = np.maximum(dens.unpack(out[0][0])["sds"], np.finfo(np.float64).tiny)  # (K, D)
    shared = get_covariance_type(dens.covariance_type).shared
    seen = [(lb0, best["means"])]
    log_mass0 = None
    cands = sorted(
        (r for r in restarts if not r["near_singular"] and r["covariances"] is not None
         and np.isfinite(r["lower_bound"])),
        key=lambda r: -r["lower_bound"],
    )
    for r in cands:
        lb = r["lower_bound"]
        if (lb0 - lb) * N > window:
            continue
        try:
            a = _aligned(best, r, shared=shared)
        except ValueError:
            continue
        # the same optimum: means (after alignment) within 0.25 of the components' sds
        if any(np.max(np.abs(a["means"] - s_mu) / comp_sd) < 0.25 for _, s_mu in seen):
            continue
        try:
            x = dens.pack(a["weights"], a["means"], a["covariances"])
        except (ValueError, np.linalg.LinAlgError):
            continue
        if not np.all(np.isfinite(dens.logp_and_grad(x)[1])):
            continue
        if min_mass_ratio > 0:
            if log_mass0 is None:
                log_mass0 = _log_laplace_mass(dens, out[0][0])
            if _log_laplace_mass(dens, x) < log_mass0 + np.log(min_mass_ratio):
                continue
        seen.append((lb, a["means"]))
        out.append((x, lb))
    return out


#: Halvings of a chain's starting offset (:func:`pulled_in`) before the chain starts
#: at its optimum itself.
START_HALVINGS = 30


def start_floor(ndim, scale):
    """How many nats below its optimum a start ``scale`` approximate posterior sds away may lie.

    ``ndim * max(1, 2 scale**2)``: under the quadratic approximation that the
    curvature sds stand for, such a start lies ``0.5 scale**2 chi2(ndim)`` nats
    below (mean ``0.5 scale**2 ndim``), so an ordinary start is far inside.
    """
    return float(ndim) * max(1.0, 2.0 * float(scale) ** 2)


def pulled_in(offsets, too_far, max_halvings=START_HALVINGS):
    """Each chain's starting offset, halved while ``too_far(c, offset)`` says its start
    lies too far below its optimum (zero after ``max_halvings``); and the halvings.

    The curvature sds (:func:`_curvature_scale`) stand for a quadratic posterior.
    Where the log density is nearly linear at the optimum -- an EM component
    collapsed onto one observation: curvature 2e-6 in its log-Cholesky
    coordinates, an sd of 707 -- a jitter of 0.1 sd moves a log scale by tens of
    units; in SBC replicate 151 of ``validation/sbc.py`` (tempering) the start's
    log density was -1e46 against -19 at the optimum, the warm-up adapted to that
    start (step sizes down to 1e-27) and the chain never left it. The offsets
    depend only on the jitter's draws, so the sampler stays valid; an ordinary
    start is left as drawn, bit for bit.

    Examples
    --------
    >>> import numpy as np
    >>> off, h = pulled_in(np.array([[1.0], [40.0]]), lambda c, o: abs(o[0]) > 5.0)
    >>> off.ravel().tolist(), h.tolist()
    ([1.0, 5.0], [0, 3])
    """
    offsets = np.array(offsets, dtype=np.float64)
    halvings = np.zeros(len(offsets), dtype=np.int64)
    for c in range(len(offsets)):
        while too_far(c, offsets[c]):
            halvings[c] += 1
            if halvings[c] >= max_halvings:
                offsets[c] = 0.0
                break
            offsets[c] *= 0.5
    return offsets, halvings


def _chain_starts(dens, x0, chains, seed_jitter, jitter, optima=None, dispersion=1.0):
    """Per-chain starting points (chains, ndim), which EM optimum each came from, and
    how often each chain's offset was halved (:func:`pulled_in`).

    Chain ``c < len(optima)`` starts at the ``c``-th distinct optimum plus
    ``jitter`` sds of noise; the others at the best plus ``dispersion`` sds
    (over-dispersed).  ``start_optimum[c]`` is the optimum's index (0 = best).
    A start more than :func:`start_floor` nats below its optimum is drawn back
    towards it.
    """
    optima = [x0] if not optima else list(optima)
    sd0 = _jitter_scale(dens, x0, max(jitter, dispersion))
    rng = np.random.default_rng(seed_jitter)
    centres, offsets, floors, which = [], [], [], []
    lp_optimum = {}
    for c in range(chains):
        z = rng.standard_normal(dens.ndim)
        i, scale = (c, jitter) if c < len(optima) else (0, dispersion)
        centres.append(np.asarray(optima[i], dtype=np.float64))
        offsets.append(scale * sd0 * z)
        if i not in lp_optimum:
            lp_optimum[i] = dens.logp(centres[-1])
        floors.append(lp_optimum[i] - start_floor(dens.ndim, scale))
        which.append(i)
    centres = np.asarray(centres)

    def too_far(c, offset):
        return not dens.logp(centres[c] + offset) >= floors[c]  # NaN: too far

    offsets, halvings = pulled_in(np.asarray(offsets), too_far)
    return centres + offsets, which, halvings


def _seeds(random_seed, n):
    """n independent 31-bit integer seeds derived from random_seed (None: fresh entropy)."""
    if isinstance(random_seed, np.random.Generator):
        return [int(s) for s in random_seed.integers(0, 2**31 - 1, size=n)]
    if random_seed is not None and not isinstance(random_seed, (int, np.integer)) or isinstance(random_seed, bool):
        raise TypeError(f"random_seed must be an int, a numpy Generator or None, got {random_seed!r}.")
    ss = np.random.SeedSequence(random_seed)
    return [int(c.generate_state(1)[0] % (2**31 - 1)) for c in ss.spawn(n)]
