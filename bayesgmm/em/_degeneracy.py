"""Degeneracy policy of the EM fit: empty and collapsed components, ``reg_covar`` scale.

* :class:`DataSpread` -- the data's (weighted) covariance and per-feature
  variances, computed on first use (one pass over the data each) and cached
  for the fit.
* :func:`warn_reg_covar_scale` -- the warning when the absolute ``reg_covar``
  swamps a feature's variance.
* :class:`Degeneracy` -- per initialisation: which components are empty or
  collapsed after an M-step (the type-specific collapse test is the
  covariance type's ``collapsed``) and their re-seeding at the
  worst-explained observations.
* :func:`relative_variances`, :func:`regularisation_held`,
  :func:`scatter_collapsed` and :func:`warn_near_singular` -- the check of
  a finished initialisation: a component whose variance in some direction is
  below :data:`NEAR_SINGULAR` times the data's variance in that direction
  sits on tied values or a single observation (a spurious maximum of the
  likelihood, held up only by ``reg_covar``, or fitted to fewer effective
  observations than it has parameters: :func:`too_few_observations`). Such
  initialisations count as failed: the estimator keeps the best one without near-singular components
  and warns when every initialisation ended so.

The warnings' ``stacklevel`` points at the user's call: the chain is
``fit``/``fit_predict`` -> ``_fit`` -> ``_fit_attempt`` (-> ``_fit_loop``
(-> ``_starts_round`` or ``_split_merge`` -> ``_run_start`` ->
``GaussianMixture._m_step``)) -> here.
"""

from __future__ import annotations

import warnings

import numba
import numpy as np

from bayesgmm import _kernels
from bayesgmm.em._engine import _block_stats_em
from bayesgmm.exceptions import DegenerateComponentWarning

#: Re-seedings per initialisation before degenerate components are left alone.
MAX_RESEEDS = 3

#: A component is near-singular when its variance in some direction is below
#: this fraction of the data's variance in that direction *and* its
#: observations carry (almost) no variance of their own in some direction
#: (:func:`regularisation_held`) or are fewer than its parameters
#: (:func:`too_few_observations`).
NEAR_SINGULAR = 1e-4

#: Below this fraction of a component's largest variance, the variance its
#: observations carry in a direction (beyond ``reg_covar``) counts as none.
COLLAPSED = 1e-6

# warnings.warn stacklevel of the user's call (see the module docstring)
_FROM_FIT_ATTEMPT = 5  # warn_reg_covar_scale, called by _fit_attempt
_FROM_M_STEP = 9  # Degeneracy methods, called by _m_step (<- _run_start <- a round or a move)
_FROM_FIT_LOOP = 6  # warn_near_singular, called by _fit_loop


class _Moments:
    """Additive (weight, sum x, sum x^2) for the data scale."""

    def __init__(self, w, sx, sxx):
        self.w, self.sx, self.sxx = w, sx, sxx

    def __add__(self, other):
        return _Moments(self.w + other.w, self.sx + other.sx, self.sxx + other.sxx)


#: Up to this many features a block's moments are one compiled pass
#: (:func:`_moments_tiles`); above it BLAS products per chunk are faster
#: (measured at 12,500 rows: compiled 0.32 ms against 0.51 ms at D = 10, but
#: 1.05 against 0.84 ms at D = 20).
_COMPILED_MOMENTS_MAX_FEATURES = 12

_MOMENTS_TILE = 128


@numba.njit(cache=True, nogil=True, error_model="numpy",
            fastmath={"nsz", "arcp", "contract", "reassoc"})
def _moments_tiles(X, center, w, diagonal, sx, sxx):  # pragma: no cover - compiled
    # tiles of rows centred and transposed into (D, T) scratch (and weighted
    # in a second copy), then each sum a contiguous loop over the tile's rows
    n, d = X.shape
    T = _MOMENTS_TILE
    has_w = w.shape[0] > 0
    xt = np.empty((d, T))
    wx = np.empty((d, T))
    total = 0.0
    for s0 in range(0, n, T):
        nt = min(T, n - s0)
        for i in range(nt):
            wi = w[s0 + i] if has_w else 1.0
            total += wi
            for f in range(d):
                v = X[s0 + i, f] - center[f]
                xt[f, i] = v
                wx[f, i] = wi * v
        for a in range(d):
            acc = 0.0
            for i in range(nt):
                acc += wx[a, i]
            sx[a] += acc
            for b in range(a, a + 1 if diagonal else d):
                acc = 0.0
                for i in range(nt):
                    acc += wx[a, i] * xt[b, i]
                if diagonal:  # sxx is (1, D)
                    sxx[0, a] += acc
                else:
                    sxx[a, b] += acc
    if not diagonal:
        for a in range(d):
            for b in range(a):
                sxx[a, b] = sxx[b, a]
    return total


def _block_moments(x, w, offset, center, step=8192, diagonal=False):
    """(weight, sum x, sum x x^T) of ``x - center``; ``diagonal``: only the
    per-feature sums of squares (a vector) instead of the D x D matrix.

    Up to :data:`_COMPILED_MOMENTS_MAX_FEATURES` features one compiled pass
    (no temporaries, GIL-free, so the engine's threads share the blocks);
    above it column sums are matrix-vector products (BLAS; numpy's axis-0
    reductions are several times slower) and temporaries one ``step``-row
    chunk."""
    d = x.shape[1]
    if d <= _COMPILED_MOMENTS_MAX_FEATURES:
        sx = np.zeros(d)
        sq = np.zeros((1, d) if diagonal else (d, d))
        total = _moments_tiles(
            np.asarray(x, dtype=np.float64), np.ascontiguousarray(center, dtype=np.float64),
            np.empty(0) if w is None else np.ascontiguousarray(w, dtype=np.float64),
            bool(diagonal), sx, sq,
        )
        return _Moments(float(total), sx, sq[0] if diagonal else sq)
    total = _Moments(0.0, np.zeros(d), np.zeros(d) if diagonal else np.zeros((d, d)))
    for s in range(0, x.shape[0], step):
        xc = x[s : s + step] - center
        wc = np.ones(xc.shape[0]) if w is None else w[s : s + step]
        sx = wc @ xc
        if diagonal:
            np.multiply(xc, xc, out=xc)
            sq = wc @ xc
        else:
            sq = (xc * wc[:, None]).T @ xc if w is not None else xc.T @ xc
        total = total + _Moments(float(xc.shape[0] if w is None else wc.sum()), sx, sq)
    return total


class DataSpread:
    """The (weighted) spread of a fit's data, computed when first needed.

    Parameters
    ----------
    data : bayesgmm.em._engine._Data
    shift : ndarray of shape (n_features,)
        The fit's centring shift (the moments are taken about it).

    Attributes
    ----------
    cov : ndarray of shape (n_features, n_features)
        The data covariance (only the collapse check of ``full`` covariances
        needs the whole matrix); computing it also sets :attr:`var` to its
        diagonal.
    var : ndarray of shape (n_features,)
        Per-feature variances: the diagonal of :attr:`cov`.
    scale : float
        The mean variance (1.0 for constant data).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._degeneracy import DataSpread
    >>> from bayesgmm.em._engine import _Data
    >>> X = np.array([[0.0, 0.0], [2.0, 4.0]])
    >>> spread = DataSpread(_Data(X), X.mean(axis=0))
    >>> spread.var, spread.scale
    (array([1., 4.]), 2.5)
    """

    def __init__(self, data, shift):
        self._data, self._shift, self._cache = data, shift, {}

    @property
    def cov(self):
        cache = self._cache
        if "cov" not in cache:
            mom = self._data.map_reduce(_block_moments, self._shift)
            mean_c = mom.sx / mom.w
            cov = mom.sxx / mom.w - np.outer(mean_c, mean_c)
            cache["cov"] = 0.5 * (cov + cov.T)
            cache["var"] = np.diagonal(cache["cov"]).copy()
        return cache["cov"]

    @property
    def var(self):
        # the diagonal of the covariance: every EM fit needs the whole matrix
        # anyway (the near-singular check of each start's result), and one
        # pass for both costs less than a pass of the variances and another
        # of the matrix (a matrix product per chunk either way)
        cache = self._cache
        if "var" not in cache:
            cache["var"] = np.diagonal(self.cov).copy()
        return cache["var"]

    @property
    def whitening(self):
        """``W`` with ``W.T @ cov @ W = I`` over the directions in which the data vary
        (None for constant data); computed once per fit, used for every start's
        :func:`relative_variances`."""
        cache = self._cache
        if "whitening" not in cache:
            lam, vec = np.linalg.eigh(self.cov)
            keep = lam > 1e-12 * max(float(lam.max()), 0.0)
            cache["whitening"] = vec[:, keep] / np.sqrt(lam[keep]) if keep.any() else None
        return cache["whitening"]

    @property
    def scale(self):
        var = self.var
        scale = float(np.sum(var)) / var.shape[0]
        return scale if scale > 0 else 1.0


def relative_variances(covariance, covariances, spread):
    """Each component's smallest variance relative to the data's in that direction.

    The smallest generalised eigenvalue ``min_v (v' C_k v) / (v' S v)`` of
    each component covariance ``C_k`` against the data covariance ``S``
    (over the directions in which the data vary; ``inf`` for constant
    data). Below :data:`NEAR_SINGULAR` the component is near-singular.

    Parameters
    ----------
    covariance : CovarianceModel
    covariances : ndarray
        In the layout of ``covariance``.
    spread : DataSpread

    Returns
    -------
    ndarray of shape (n_components,)

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance import get_covariance_type
    >>> from bayesgmm.em._degeneracy import DataSpread, relative_variances
    >>> from bayesgmm.em._engine import _Data
    >>> X = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    >>> spread = DataSpread(_Data(X), X.mean(axis=0))
    >>> relative_variances(get_covariance_type("diag"), np.array([[1.0, 1e-8]]), spread)
    array([2.5e-09])
    """
    covs = np.asarray(covariances)
    k = 1 if covariance.shared else covs.shape[0]
    full = covariance.to_full(covs, k, spread.cov.shape[0])
    white = spread.whitening
    if white is None:
        return np.full(full.shape[0], np.inf)
    return np.linalg.eigvalsh(white.T @ full @ white)[:, 0]


def regularisation_held(covariance, covariances, reg_covar):
    """Per component: whether only ``reg_covar`` holds its variance up in some direction.

    True where the smallest eigenvalue of ``covariance - reg_covar * I`` is at
    most :data:`COLLAPSED` times the component's largest variance: its
    observations lie (up to rounding) on a lower-dimensional set -- tied
    values of a discretised feature, a single point, a line. A tight but
    genuine cluster (its own spread in every direction, however small next to
    the data's) is not held by the regulariser. One value for a shared
    (``tied``) covariance.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance import get_covariance_type
    >>> from bayesgmm.em._degeneracy import regularisation_held
    >>> regularisation_held(get_covariance_type("diag"), np.array([[1.0, 1e-6], [1e-4, 1e-4]]), 1e-6)
    array([ True, False])
    """
    covs = np.asarray(covariances, dtype=np.float64)
    k = 1 if covariance.shared else covs.shape[0]
    d = covs.shape[-1] if covariance.is_matrix or covs.ndim > 1 else None
    if d is None:  # spherical: one variance per component
        return covs - reg_covar <= COLLAPSED * covs
    full = covariance.to_full(covs, k, d)
    lam = np.linalg.eigvalsh(full)
    return lam[:, 0] - reg_covar <= COLLAPSED * lam[:, -1]


def _block_scatter(x, w, offset, means, prec_chol, covariance, log_weights, which):
    """One block's responsibility-weighted (weight, sum, sum of outer products)
    of ``x - means[j]`` for the components ``which``."""
    _, log_resp = _kernels.mixture_log_likelihood(
        x, means, prec_chol, covariance, log_weights, responsibilities=True
    )
    r = np.exp(log_resp[:, which])
    if w is not None:
        r = r * w[:, None]
    d = x.shape[1]
    sx = np.empty((len(which), d))
    sxx = np.empty((len(which), d, d))
    for i, j in enumerate(which):
        xc = x - means[j]
        sx[i] = r[:, i] @ xc
        sxx[i] = (xc * r[:, i, None]).T @ xc
    return _Moments(r.sum(axis=0), sx, sxx)


def scatter_collapsed(data, params, covariance, components):
    """Per listed component: whether its own observations carry no variance in some direction.

    The responsibility-weighted scatter matrix of the data about the
    component's mean (what an unconstrained M-step would give, without
    ``reg_covar``), and whether its smallest eigenvalue is at most
    :data:`COLLAPSED` times its largest: the observations lie (up to
    rounding) on tied values, a point or a line (largest: of the scatter's
    and of the fitted covariance's eigenvalues, so that a one-dimensional
    component on tied values counts too). :func:`regularisation_held`
    asks the same of the *fitted* covariance, which for the models with a
    constrained shape or orientation (``VVE``, ``VEV``, ``EVE``, ...) is not
    the component's scatter: a shared orientation tilted slightly off the
    axis of a tied feature leaks the other features' spread into the thin
    direction and hides the tie. One extra pass over the data (an E-step);
    called only for the few components that are already near-singular in
    size (:data:`NEAR_SINGULAR`).

    Parameters
    ----------
    data : bayesgmm.em._engine._Data
    params : tuple
        ``(weights, means, covariances, precisions_cholesky)`` of the fit,
        means in the data's coordinates.
    covariance : CovarianceModel
    components : sequence of int

    Returns
    -------
    ndarray of bool, one per listed component (True for one with no
    responsibility at all).
    """
    which = np.asarray(components, dtype=int)
    if not which.size:
        return np.zeros(0, dtype=bool)
    weights, means, covs, prec_chol = params
    means = np.asarray(means, dtype=np.float64)
    with np.errstate(divide="ignore"):
        log_w = np.log(np.asarray(weights, dtype=np.float64))
    mom = data.map_reduce(_block_scatter, means, prec_chol, covariance, log_w, which)
    # the scale of "no variance": the larger of the scatter's and the fitted
    # covariance's largest variance (in one dimension the scatter alone has
    # no other direction to compare with)
    k = 1 if covariance.shared else means.shape[0]
    fitted = covariance.to_full(np.asarray(covs, dtype=np.float64), k, means.shape[1])
    out = np.ones(which.size, dtype=bool)
    for i, j in enumerate(which):
        w = float(mom.w[i])
        if not w > 0:
            continue
        mean_c = mom.sx[i] / w
        scatter = mom.sxx[i] / w - np.outer(mean_c, mean_c)
        lam = np.linalg.eigvalsh(0.5 * (scatter + scatter.T))
        top = max(float(lam[-1]), float(np.linalg.eigvalsh(fitted[0 if k == 1 else j])[-1]))
        out[i] = lam[0] <= COLLAPSED * top
    return out


def too_few_observations(covariance, n_effective, n_features):
    """Per component: fewer effective observations than the component has parameters.

    A component with its own mean and covariance (``D + `` the covariance's
    free parameters per component) fitted to fewer effective observations
    than that is not determined by its own data: a flat fit to a handful of
    points (three points in three dimensions span a plane), the typical
    spurious maximum of many-component fits on small data sets. A tight
    genuine cluster has many observations. A shared (``tied``) covariance is
    estimated from all observations: never too few.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.covariance import get_covariance_type
    >>> from bayesgmm.em._degeneracy import too_few_observations
    >>> too_few_observations(get_covariance_type("full"), np.array([3.0, 50.0]), 3)
    array([ True, False])
    """
    n_effective = np.asarray(n_effective, dtype=np.float64)
    if covariance.shared:
        return np.zeros(n_effective.shape, dtype=bool)
    per_component = covariance.n_parameters(1, n_features)  # mean + covariance, no weight
    return n_effective < per_component


def warn_near_singular(components, ratios, n_effective, n_init):
    """The :class:`DegenerateComponentWarning` of a fit whose best solution is near-singular.

    ``components``: indices; ``ratios``: their relative variances
    (:func:`relative_variances`); ``n_effective``: their effective numbers
    of observations; ``n_init``: the number of initialisations, all of
    which ended with a near-singular component.
    """
    what = ", ".join(
        f"{c} (variance ratio {r:.2g}, {m:.3g} observations)"
        for c, r, m in zip(components, ratios, n_effective)
    )
    warnings.warn(
        f"Component(s) {what} of the fitted mixture are near-singular: in some direction "
        f"their variance is below {NEAR_SINGULAR:g} x the data's, i.e. they sit on tied "
        "values or on fewer observations than their parameters, a spurious maximum of the "
        f"likelihood; all {n_init} initialisation(s) ended so. Use fewer components "
        "(n_components), increase reg_covar (to about 1e-3 x the variance of the tied "
        "feature) or try more initialisations (n_init).",
        DegenerateComponentWarning,
        stacklevel=_FROM_FIT_LOOP,
    )


def warn_reg_covar_scale(reg_covar, spread, names=None):
    """Warn when the absolute ``reg_covar`` swamps a feature's variance.

    The regulariser is added to every covariance diagonal; above ~1e-3 of
    a feature's variance it dominates the fit (for data scaled by 1e-8 the
    default 1e-6 silently collapsed every component onto the data mean).
    Constant features (variance 0 up to rounding) are left to the other
    checks. The variances are cached in ``spread``, so with the default
    k-means initialisation this costs nothing extra.
    """
    if reg_covar <= 0:
        return
    var = spread.var
    floor = 1e-12 * max(float(var.max()), 0.0)
    small = np.flatnonzero((var > floor) & (reg_covar > 1e-3 * var))
    if small.size == 0:
        return
    which = [str(names[j]) for j in small] if names is not None else small.tolist()
    warnings.warn(
        f"reg_covar={reg_covar:g} exceeds 1e-3 x the variance (smallest "
        f"{float(var[small].min()):.3g}) of feature(s) {which}: the regulariser "
        "dominates the fit and components may collapse onto the data mean. "
        "Standardise the data (e.g. (X - X.mean(0)) / X.std(0)) or lower "
        "reg_covar (e.g. 1e-6 x the smallest feature variance).",
        DegenerateComponentWarning,
        stacklevel=_FROM_FIT_ATTEMPT,
    )


class Degeneracy:
    """Empty and collapsed components of one initialisation, and their re-seeding.

    Parameters
    ----------
    covariance : CovarianceModel
    n_components : int
    reg_covar : float
    spread : DataSpread
    """

    def __init__(self, covariance, n_components, reg_covar, spread):
        self.covariance = covariance
        self.n_components = n_components
        self.reg_covar = reg_covar
        self.spread = spread
        self.reseeds_left = MAX_RESEEDS

    def degenerate(self, stats, covs):
        """Indices of empty or collapsed components.

        Empty: less than one observation's worth of responsibility.
        Collapsed: less than two observations' worth, and no variance left
        (beyond ``reg_covar``) in some direction in which the data do vary
        (``< 1e-10`` times the data's variance there; the covariance type's
        ``collapsed``), i.e. the component sits on a single observation and
        its likelihood would grow without bound. Components that are singular
        but hold several observations (e.g. a cluster constant in one
        feature) are left alone, as in scikit-learn. After
        :data:`MAX_RESEEDS` re-seedings, none (with a warning).
        """
        k = self.n_components
        if k == 1 or self.reseeds_left <= 0:
            return np.array([], dtype=int)
        per_obs = stats.weight / max(stats.n, 1)
        n_eff = stats.nk / per_obs
        empty = n_eff < 1.0
        small = n_eff < 2.0
        collapsed = np.zeros(k, dtype=bool)
        if small.any():
            floor = 1e-12 * self.spread.scale
            collapsed = self.covariance.collapsed(covs, small, self.reg_covar, self.spread, floor)
        bad = np.nonzero(empty | collapsed)[0]
        if bad.size:
            self.reseeds_left -= 1
            if self.reseeds_left == 0:
                warnings.warn(
                    f"Component(s) {bad.tolist()} keep becoming empty or collapsing "
                    f"after {MAX_RESEEDS} re-seedings; they are left as they are. The data do "
                    "not support this many components: use fewer components, or "
                    "increase reg_covar.",
                    DegenerateComponentWarning,
                    stacklevel=_FROM_M_STEP,
                )
                return np.array([], dtype=int)
        return bad

    def reseed(self, bad, data, shift, estep, means_c, covs, nk):
        """Move the ``bad`` components to the worst-explained observations.

        One extra E-step pass (``estep``: the arguments of this iteration's)
        finds them; each gets the average covariance of the other components
        (the covariance type's ``reseed_covariance``) and weight ``1/K``.
        Returns new ``(means_c, covs, nk)`` (unchanged when there are too few
        observations), with a warning.
        """
        k = self.n_components
        good = np.setdiff1d(np.arange(k), bad)
        worst = data.map_reduce(_block_stats_em, *estep, len(bad))
        idx = worst.worst_index[: len(bad)] if worst.worst_index is not None else []
        if len(idx) < len(bad):
            return means_c, covs, nk
        points = data.rows(idx) - shift
        means_c = means_c.copy()
        covs = np.array(covs, copy=True)
        nk = nk.copy()
        total = nk.sum()
        for j, c in enumerate(bad):
            means_c[c] = points[j]
            variance = self.spread.scale + self.reg_covar if not good.size else None
            self.covariance.reseed_covariance(covs, c, good, variance)
            nk[c] = total / k
        warnings.warn(
            f"Component(s) {bad.tolist()} became empty or collapsed onto too few "
            "observations during EM and were re-seeded at the worst-explained "
            "observations. If this keeps happening, use fewer components, increase "
            "reg_covar, or scale the features.",
            DegenerateComponentWarning,
            stacklevel=_FROM_M_STEP,
        )
        return means_c, covs, nk
