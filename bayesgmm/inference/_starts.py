"""Starting points: the EM fit that starts the posterior, chain starts and their jitter, seeds.

Every chain (and every VI fit) starts at an EM estimate: the caller's, or the
one :func:`em_start` fits. NUTS chains get a small seeded jitter in units of
the approximate posterior sd from the local curvature (:func:`_curvature_scale`).
"""

from __future__ import annotations

import numpy as np

from bayesgmm._data import orient
from bayesgmm._logdensity import MixtureDensity
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em._init import DEFAULT_N_INIT
from bayesgmm.inference._common import _blas_one_thread

#: EM restarts of the default starting fit (:func:`em_start`): the package's one
#: default, :data:`bayesgmm.em.DEFAULT_N_INIT` (also BayesianGMM's, select_components'
#: and the CLI's).
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
    data_var = float(np.mean(np.var(np.asarray(orient(X), dtype=np.float64), axis=0)))
    return 1e-6 * data_var if np.isfinite(data_var) and data_var > 0 else 1e-6


def em_start(X, n_components, covariance_type="full", *, n_init=EM_START_N_INIT, random_state=None,
             reg_covar=None):
    """The default EM fit that starts the posterior.

    :class:`bayesgmm.GaussianMixture` with ``n_init`` restarts and the
    scale-free regulariser :func:`initial_reg_covar` of ``X``.
    ``run_inference(init=None)`` uses it with the default ``n_init``;
    :meth:`bayesgmm.BayesianGMM.fit` passes its own ``n_init``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data (DataFrame column names are kept by the fit).
    n_components : int
    covariance_type : str or CovarianceModel, default="full"
    n_init : int, default=EM_START_N_INIT (10)
        EM restarts; the best is returned.
    random_state : int, numpy Generator, RandomState or None
    reg_covar : float or None, default None
        EM's covariance regulariser; ``None``: :func:`initial_reg_covar` of ``X``.

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
        n_components, covariance_type=covariance_type, n_init=n_init, random_state=random_state,
        reg_covar=initial_reg_covar(X) if reg_covar is None else float(reg_covar),
    ).fit(X)


def _init_params(init, dens: MixtureDensity, random_seed):
    """The unconstrained start from an EM fit, a dict, or None (:func:`em_start` on ``dens.X``)."""
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
    return x0


def _pymc_initvals(dens: MixtureDensity, x):
    """Constrained initial values keyed by the PyMC model's free variable names."""
    p = dens.unpack(x)
    cov = get_covariance_type(dens.covariance_type).pymc_initvals(p["chol"])
    return {"weights": p["weights"], "means": p["means"], **cov}


def _curvature_scale(dens: MixtureDensity, x0, X=None, scale=1.0):
    """Approximate posterior sd per unconstrained coordinate: 1/sqrt(-diag Hessian) at x0.

    Central differences of the analytic gradient (2 * ndim gradient calls).
    """
    h = 1e-4
    n = dens.ndim
    out = np.empty(n)
    for i in range(n):
        e = np.zeros(n)
        e[i] = h
        gp = dens.logp_and_grad(x0 + e, X=X, scale=scale)[1][i]
        gm = dens.logp_and_grad(x0 - e, X=X, scale=scale)[1][i]
        out[i] = -(gp - gm) / (2 * h)
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = 1.0 / np.sqrt(out)
    bad = ~np.isfinite(sd) | (out <= 0)
    sd[bad] = 0.1
    return np.clip(sd, 1e-8, 10.0)


def _jitter_scale(dens, x0, jitter):
    """Per-coordinate sd of the chains' starting jitter (zeros without jitter)."""
    with _blas_one_thread():
        return _curvature_scale(dens, x0) if jitter > 0 else np.zeros(dens.ndim)


def _chain_starts(dens, x0, chains, seed_jitter, jitter):
    sd0 = _jitter_scale(dens, x0, jitter)
    rng = np.random.default_rng(seed_jitter)
    return [x0 + jitter * sd0 * rng.standard_normal(dens.ndim) for _ in range(chains)]


def _seeds(random_seed, n):
    """n independent 31-bit integer seeds derived from random_seed (None: fresh entropy)."""
    if isinstance(random_seed, np.random.Generator):
        return [int(s) for s in random_seed.integers(0, 2**31 - 1, size=n)]
    if random_seed is not None and not isinstance(random_seed, (int, np.integer)) or isinstance(random_seed, bool):
        raise TypeError(f"random_seed must be an int, a numpy Generator or None, got {random_seed!r}.")
    ss = np.random.SeedSequence(random_seed)
    return [int(c.generate_state(1)[0] % (2**31 - 1)) for c in ss.spawn(n)]
