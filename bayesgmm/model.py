"""The PyMC model of the Bayesian Gaussian mixture.

:func:`build_model` is a pure function: data, component count, covariance type
and :class:`~bayesgmm.priors.Priors` in, a fresh :class:`pymc.Model` out.  The
likelihood sums the components out for all observations at once with matrix
products against the inverse Cholesky factors of the covariances (no
``pm.Mixture`` over a list of ``MvNormal``); it is an observed
:class:`pymc.CustomDist` named ``X`` with a batched ``logp`` and a ``random``,
so ``pm.compute_log_likelihood`` and ``pm.sample_prior_predictive`` work.
The covariance prior is the covariance type's block
(:meth:`bayesgmm.covariance.CovarianceModel.pymc_prior`, where each type
documents it); the priors are coerced by :func:`bayesgmm.priors.coerce_priors`.
"""

from __future__ import annotations

import numpy as np

# pymc and pytensor are imported inside the functions that need them, so that
# the data helpers here (used by the numpy fast path) do not pay their import.
from bayesgmm._data import prepare_data  # re-exported: bayesgmm.model.prepare_data
from bayesgmm.covariance import COVARIANCE_TYPES, get_covariance_type
from bayesgmm.em._noise import noise_with_missing_error
from bayesgmm.priors import coerce_priors

__all__ = ["build_model", "COVARIANCE_PRIORS", "prepare_data"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _check_n_components(n_components):
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise TypeError(f"n_components must be an int >= 1, got {type(n_components).__name__} {n_components!r}.")
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}.")
    return int(n_components)


#: The PyMC prior block of each covariance type, keyed by name (kept for
#: compatibility; the blocks are the types' ``pymc_prior`` methods).
COVARIANCE_PRIORS = {name: get_covariance_type(name).pymc_prior for name in COVARIANCE_TYPES}


# ------------------------------------------------------------------ likelihood
def mixture_loglik(value, weights, means, chol):
    """Pointwise log-likelihood of a Gaussian mixture, components summed out.

    ``value`` (N, D), ``weights`` (K,), ``means`` (K, D), ``chol`` (K, D, D)
    lower Cholesky factors of the covariances.  Returns an (N,) tensor.  One
    ``(N, D) @ (D, K*D)`` product whitens the data for all components.
    """
    import pytensor.tensor as pt

    K = chol.shape[0]
    D = chol.shape[-1]
    A = pt.linalg.inv(chol)  # (K, D, D) inverse Cholesky factors
    AT_all = pt.transpose(A, (2, 0, 1)).reshape((D, K * D))  # [A_1^T ... A_K^T]
    b = pt.sum(A * means[:, None, :], axis=-1)  # A_k mu_k, (K, D)
    Y = pt.dot(value, AT_all).reshape((value.shape[0], K, D)) - b[None, :, :]
    logdet = pt.sum(pt.log(pt.diagonal(chol, axis1=-2, axis2=-1)), axis=-1)  # (K,)
    log_norm = -0.5 * D * _LOG_2PI - logdet - 0.5 * pt.sum(Y**2, axis=-1)  # (N, K)
    return pt.logsumexp(log_norm + pt.log(weights)[None, :], axis=-1)


def noise_mixture_loglik(value, weights, means, chol, noise_weight, log_volume):
    """:func:`mixture_loglik` plus a uniform noise term: ``log(w_0 / V + sum_k ...)``,
    ``weights`` the Gaussians' (summing to ``1 - noise_weight``)."""
    import pytensor.tensor as pt

    g = mixture_loglik(value, weights, means, chol)
    return pt.logaddexp(g, pt.log(noise_weight) - log_volume)


def _strip_batch(x, core_ndim):
    # CustomDist left-pads parameters with broadcastable dims up to the batch
    # ndim of the observed value; the parameters here are never batched.
    while x.ndim > core_ndim:
        x = x[0]
    return x


def _custom_logp(value, weights, means, chol):
    return mixture_loglik(
        value, _strip_batch(weights, 1), _strip_batch(means, 2), _strip_batch(chol, 3)
    )


def _custom_noise_logp(value, weights, means, chol, noise_weight, log_volume):
    return noise_mixture_loglik(
        value, _strip_batch(weights, 1), _strip_batch(means, 2), _strip_batch(chol, 3),
        _strip_batch(noise_weight, 0), _strip_batch(log_volume, 0),
    )


def _noise_random(lower, upper):
    """``random`` of the noise mixture: noise points uniform on the box [lower, upper]
    (of volume V when the box is the one V was computed from)."""

    def random(weights, means, chol, noise_weight, log_volume, rng=None, size=None):
        w = np.append(np.asarray(weights).reshape(-1), np.asarray(noise_weight).reshape(-1)[:1])
        x = _mixture_random(w[:-1] / w[:-1].sum(), means, chol, rng=rng, size=size)
        is_noise = rng.random(x.shape[:-1]) < w[-1] / w.sum()
        u = rng.uniform(lower, upper, size=x.shape)
        return np.where(is_noise[..., None], u, x)

    return random


def _mixture_random(weights, means, chol, rng=None, size=None):
    weights = np.asarray(weights).reshape(-1)
    means = np.asarray(means)
    means = means.reshape(means.shape[-2:])
    chol = np.asarray(chol)
    chol = chol.reshape(chol.shape[-3:])
    if size is None:
        size = ()
    size = tuple(np.atleast_1d(size).astype(int)) if np.ndim(size) else (int(size),)
    K, D = means.shape
    p = np.clip(weights, 0, None)
    z = rng.choice(K, size=size, p=p / p.sum())
    eps = rng.standard_normal((*size, D))
    return means[z] + np.einsum("...ij,...j->...i", chol[z], eps)


# ------------------------------------------------------------------- the model
def build_model(X, n_components, covariance_type="full", priors=None, *, coords=None,
                missing="error", noise_hypervolume=None) -> "pymc.Model":
    """Build the PyMC model of a Bayesian Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (numpy, pandas DataFrame, xarray DataArray). DataFrame columns
        become the ``feature`` coordinate. The data enter as
        ``pm.Data("X_data")`` (the observed variable is ``X``), so
        ``pm.set_data({"X_data": X_new})`` swaps them without recompiling.
    n_components : int
        Number of mixture components ``K``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        scikit-learn's meaning: one full covariance per component, one shared
        full covariance, one diagonal per component, one variance per component.
    priors : Priors, ResolvedPriors, dict or None
        Prior configuration, defaults to :class:`~bayesgmm.priors.Priors`
        (see :func:`~bayesgmm.priors.coerce_priors`; a ``ResolvedPriors`` must
        have been resolved for ``n_components`` and this ``X``'s features).
    coords : dict, optional
        Extra or overriding coordinates (e.g. ``{"component": ["a", "b"]}``).
    missing : {"error", "marginalize"}, default="error"
        NaN in ``X``: an error, or missing values (missing at random) whose
        coordinates are integrated out. The likelihood is then one observed
        term per pattern of missing values (``X`` for the complete rows,
        ``X_pattern_1``, ... for the others), each the mixture of the
        Gaussian marginals of its observed coordinates (sub-vectors of the
        means, sub-matrices of the covariances; exact); ``X_data`` holds the
        data with 0 in place of NaN and ``X_missing`` marks them (PyMC's data
        containers take no NaN). Such a model is sampled through PyMC (``pm.sample``,
        nutpie's compiled PyMC path), not the fast density.
    noise_hypervolume : float, optional
        Adds mclust's uniform noise component (Banfield & Raftery 1993): density
        ``1 / noise_hypervolume`` with its own weight.  The ``K + 1`` weights are then
        the free variable ``mixing_weights`` ~ Dirichlet(alpha_1..alpha_K, alpha_0)
        (dim ``mixing``, the noise last; ``alpha_0`` the mean of the components'),
        with deterministics ``weights`` (component; summing to ``1 - noise_weight``)
        and ``noise_weight``.  Prior predictive noise points are uniform on the data's
        bounding box scaled to that volume.  Sampled with
        :class:`~bayesgmm._logdensity.MixtureDensity`'s ``noise_hypervolume``
        (the same posterior).
        Not with ``missing="marginalize"`` (a ``ValueError``).

    Returns
    -------
    pymc.Model
        Free variables ``weights`` (component), ``means`` (component, feature)
        and the covariance type's (``chol_cov_0..K-1`` for full, ``chol_cov``
        for tied, ``sds`` for diag, ``sd`` for spherical; see its
        ``pymc_prior``); deterministics ``covariances`` (component, feature,
        feature_bis), ``sds`` (component, feature) unless a free variable,
        ``correlations`` for the types with correlations (full, tied);
        observed ``X`` (obs, feature).

    Examples
    --------
    >>> import numpy as np, pymc as pm
    >>> from bayesgmm.model import build_model
    >>> X = np.random.default_rng(0).normal(size=(50, 2))
    >>> model = build_model(X, n_components=2, covariance_type="diag")
    >>> sorted(v.name for v in model.free_RVs)
    ['means', 'sds', 'weights']
    >>> model["covariances"].type.ndim
    3
    """
    import pymc as pm
    import pytensor.tensor as pt

    K = _check_n_components(n_components)
    cov_type = get_covariance_type(covariance_type)
    priors = coerce_priors(priors)
    if missing not in ("error", "marginalize"):
        raise ValueError(f"missing must be 'error' or 'marginalize'; got {missing!r}.")
    if missing == "marginalize" and noise_hypervolume is not None:
        raise noise_with_missing_error("noise_hypervolume", "noise_hypervolume=None")
    arr, obs, features = prepare_data(X, allow_nan=missing == "marginalize")
    N, D = arr.shape
    rp = coerce_priors(priors, arr, K, missing=missing)
    model_coords = {
        "obs": obs,
        "feature": features,
        "feature_bis": features,
        "component": np.arange(K),
    }
    if coords is not None:
        if not isinstance(coords, dict):
            raise TypeError(f"coords must be a dict of dim name -> values, got {type(coords).__name__}.")
        model_coords.update(coords)

    log_v = None
    if noise_hypervolume is not None:
        v = noise_hypervolume
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                or not np.isfinite(v) or not v > 0:
            raise ValueError(
                f"noise_hypervolume must be a positive finite number or None; got {v!r}."
            )
        log_v = float(np.log(v))
        model_coords.setdefault("mixing", np.arange(K + 1))

    with pm.Model(coords=model_coords) as model:
        mask = np.isnan(arr)
        if mask.any():  # pm.Data takes no NaN: zeros there, and the mask beside them
            X_data = pm.Data("X_data", np.where(mask, 0.0, arr), dims=("obs", "feature"))
            pm.Data("X_missing", mask, dims=("obs", "feature"))
        else:
            X_data = pm.Data("X_data", arr, dims=("obs", "feature"))
        if log_v is None:
            weights = pm.Dirichlet("weights", a=rp.weights_alpha, dims="component")
        else:
            alpha = np.append(rp.weights_alpha, np.mean(rp.weights_alpha))
            mixing = pm.Dirichlet("mixing_weights", a=alpha, dims="mixing")
            weights = pm.Deterministic("weights", mixing[:K], dims="component")
            noise_weight = pm.Deterministic("noise_weight", mixing[K])
        means = pm.Normal(
            "means",
            mu=rp.mean_loc[None, :],
            sigma=rp.mean_sd[None, :],
            dims=("component", "feature"),
        )
        chol = cov_type.pymc_prior(K, D, rp)
        cov = chol @ pt.transpose(chol, (0, 2, 1))
        pm.Deterministic("covariances", cov, dims=("component", "feature", "feature_bis"))
        sds = pt.sqrt(pt.diagonal(cov, axis1=-2, axis2=-1))
        if "sds" not in model.named_vars:  # unless the type's free variable
            pm.Deterministic("sds", sds, dims=("component", "feature"))
        if cov_type.has_correlations:
            corr = cov / (sds[:, :, None] * sds[:, None, :])
            pm.Deterministic("correlations", corr, dims=("component", "feature", "feature_bis"))
        if log_v is not None:
            lo, hi = arr.min(axis=0), arr.max(axis=0)
            width = np.where(hi > lo, hi - lo, 1.0)
            width = width * np.exp((log_v - np.log(width).sum()) / D)
            mid = (lo + hi) / 2
            pm.CustomDist(
                "X",
                weights,
                means,
                chol,
                noise_weight,
                pt.as_tensor_variable(log_v),
                logp=_custom_noise_logp,
                random=_noise_random(mid - width / 2, mid + width / 2),
                signature="(k),(k,d),(k,d,d),(),()->(d)",
                observed=X_data,
                dims=("obs", "feature"),
            )
            return model
        if not mask.any():
            pm.CustomDist(
                "X",
                weights,
                means,
                chol,
                logp=_custom_logp,
                random=_mixture_random,
                signature="(k),(k,d),(k,d,d)->(d)",
                observed=X_data,
                dims=("obs", "feature"),
            )
        else:
            _missing_likelihood(arr, mask, weights, means, cov, chol)
    return model


def _missing_likelihood(arr, mask, weights, means, cov, chol):
    """One observed term per pattern of missing values: the mixture of the marginals of
    the observed coordinates (rows with nothing observed add nothing)."""
    import pymc as pm
    import pytensor.tensor as pt

    patterns = np.unique(mask, axis=0)
    j = 0
    for pat in patterns:
        rows = np.flatnonzero((mask == pat).all(axis=1))
        o = np.flatnonzero(~pat)
        if o.size == 0:
            continue
        if o.size == arr.shape[1]:
            name, L = "X", chol
        else:
            j += 1
            name = f"X_pattern_{j}"
            L = pt.linalg.cholesky(cov[:, o][:, :, o])
        pm.CustomDist(
            name,
            weights,
            means[:, o],
            L,
            logp=_custom_logp,
            random=_mixture_random,
            signature="(k),(k,d),(k,d,d)->(d)",
            observed=arr[np.ix_(rows, o)],
        )
