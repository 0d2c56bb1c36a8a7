"""A uniform noise component for EM, as in R mclust (Banfield & Raftery 1993).

The mixture gets one more component with the constant density ``1 / V`` over the
data region, of hypervolume ``V``, and its own weight ``pi_0``:

    p(x) = pi_0 / V + sum_k pi_k N(x | mu_k, Sigma_k),   pi_0 + sum_k pi_k = 1.

EM with it (Fraley & Raftery 1998, Sec. 5): the noise responsibility of a row is
``r_n0 = (pi_0 / V) / p(x_n)``; the Gaussian responsibilities are
``r_nk = (1 - r_n0) * rt_nk`` with ``rt_nk`` those of the Gaussians alone, so the
Gaussian M-step is the ordinary one with each row's weight multiplied by
``1 - r_n0`` (the engine's sufficient statistics are reused unchanged), and
``pi_0 = sum_n w_n r_n0 / sum_n w_n``.

Defaults follow mclust: ``V`` is mclust's ``hypvol`` -- the smaller of the volume of
the data's bounding box along the coordinate axes and along its principal
components -- and the initial noise rows come from the nearest-neighbour cleaning
of Byers & Raftery (1998) (prabclus' ``NNclean``, which mclust's documentation
uses for ``initialization = list(noise = ...)``).  The Gaussians start from the
initialisation strategy run on the other rows only, as mclust runs ``hc`` on them.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from bayesgmm import _kernels

#: Neighbours of the nearest-neighbour cleaning (``NNclean(X, k = 5)`` in mclust's
#: documentation).
NN_CLEAN_K = 5


def hypervolume(X, return_box: bool = False):
    """mclust's ``hypvol``: the smaller of the bounding-box volumes along the axes and
    along the principal components; returns ``(V, which)``, ``which`` ``"box"`` or
    ``"principal-components box"``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._noise import hypervolume
    >>> V, which = hypervolume(np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 3.0], [2.0, 3.0]]))
    >>> round(V, 6), which
    (6.0, 'box')

    With ``return_box``, also the box as ``(offset, rotation, lower, upper)``: its
    points are ``offset + u @ rotation.T`` for ``lower <= u <= upper``.
    """
    X = np.asarray(X, dtype=np.float64)
    D = X.shape[1]
    axis_box = (np.zeros(D), np.eye(D), X.min(axis=0), X.max(axis=0))
    if D == 1:
        out = (float(np.ptp(X[:, 0])), "box")
        return (*out, axis_box) if return_box else out
    with np.errstate(divide="ignore"):
        box = float(np.sum(np.log(np.ptp(X, axis=0))))
        mean = X.mean(axis=0)
        Xc = X - mean
        _, vecs = np.linalg.eigh(Xc.T @ Xc / X.shape[0])
        U = Xc @ vecs
        pc = float(np.sum(np.log(np.ptp(U, axis=0))))
    # mclust compares the log volumes; a tie keeps the box
    if pc < box - 1e-12 * max(1.0, abs(box)):
        out = (math.exp(pc), "principal-components box")
        frame = (mean, vecs, U.min(axis=0), U.max(axis=0))
    else:
        out, frame = (math.exp(box), "box"), axis_box
    return (*out, frame) if return_box else out


def nn_clean(X, k: int = NN_CLEAN_K, max_iter: int = 200, tol: float = 1e-8) -> np.ndarray:
    """Noise rows by nearest-neighbour cleaning (Byers & Raftery 1998).

    For points of a Poisson process of rate ``lambda`` in ``d`` dimensions, the
    ``d``-th power of the distance to the ``k``-th nearest neighbour is
    Gamma(``k``, ``lambda * alpha_d``) (``alpha_d`` the unit ball's volume).  A
    two-component mixture of such Gammas (feature and noise rates) is fitted to the
    distances by EM; rows more probably from the lower-rate component are noise.

    Returns
    -------
    ndarray of bool, shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm.em._noise import nn_clean
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(size=(200, 2)) * 0.3, rng.uniform(-10, 10, size=(20, 2))]
    >>> flags = nn_clean(X)
    >>> bool(flags[200:].mean() > 0.8 and flags[:200].mean() < 0.05)
    True
    """
    from scipy.spatial import cKDTree

    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = int(min(k, n - 1))
    if k < 1:
        return np.zeros(n, dtype=bool)
    dist, _ = cKDTree(X).query(X, k=k + 1)
    x = np.maximum(dist[:, k], np.finfo(float).tiny) ** d  # the point itself is neighbour 0
    if not np.all(np.isfinite(x)) or np.ptp(np.log(x)) == 0:
        return np.zeros(n, dtype=bool)
    # start: the upper 20% of the distances as noise
    cut = np.quantile(x, 0.8)
    r = (x > cut).astype(float)
    lam = np.empty(2)
    p = 0.0
    prev = -np.inf
    for _ in range(max_iter):
        p = np.clip(r.mean(), 1e-6, 1 - 1e-6)
        lam[0] = k * np.sum(1 - r) / max(np.sum((1 - r) * x), np.finfo(float).tiny)
        lam[1] = k * np.sum(r) / max(np.sum(r * x), np.finfo(float).tiny)
        # log Gamma(k, rate) densities up to terms common to both components
        l0 = np.log1p(-p) + k * np.log(lam[0]) - lam[0] * x
        l1 = np.log(p) + k * np.log(lam[1]) - lam[1] * x
        m = np.maximum(l0, l1)
        norm = m + np.log(np.exp(l0 - m) + np.exp(l1 - m))
        r = np.exp(l1 - norm)
        ll = float(norm.sum())
        if abs(ll - prev) < tol * max(1.0, abs(ll)):
            break
        prev = ll
    noise = 1 if lam[1] < lam[0] else 0  # the sparser component
    rn = r if noise == 1 else 1 - r
    return rn > 0.5


class NoiseModel:
    """A fit's noise settings: ``log V`` and the initial noise rows."""

    def __init__(self, volume: float, volume_kind: str, initial: np.ndarray, box):
        self.volume = float(volume)
        self.log_volume = math.log(volume)
        self.volume_kind = volume_kind
        self.initial = initial
        self.box = box  # (offset, rotation, lower, upper): where sample() puts noise


def check_hypervolume(noise_hypervolume) -> float:
    """``noise_hypervolume`` as a float, or a ``ValueError`` naming it: the
    volume of the noise region must be a positive finite number."""
    v = noise_hypervolume
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
            or not np.isfinite(v) or not v > 0:
        raise ValueError(
            "`noise_hypervolume` must be a positive finite number (the volume of the noise "
            f"region) or None (mclust's hypvol of the data); got {v!r}."
        )
    return float(v)


def check_noise(noise, noise_init, noise_hypervolume):
    """Validate the estimator's noise parameters (before the data are seen)."""
    if not isinstance(noise, (bool, np.bool_)):
        raise ValueError(f"`noise` must be True or False; got {noise!r}.")
    if noise_hypervolume is not None:
        check_hypervolume(noise_hypervolume)
    if noise_init is not None and not (isinstance(noise_init, str) and noise_init == "nnclean"):
        arr = np.asarray(noise_init)
        if arr.ndim != 1 or arr.dtype != bool:
            raise ValueError(
                "`noise_init` must be 'nnclean', None (the same) or a boolean mask of the "
                f"rows that start as noise (shape (n_samples,)); got {type(noise_init).__name__}"
                f" {getattr(arr, 'shape', '')} of dtype {arr.dtype}."
            )
    if not noise and (noise_hypervolume is not None or noise_init is not None):
        raise ValueError(
            "`noise_hypervolume` and `noise_init` need noise=True; set noise=True to add "
            "the uniform noise component."
        )


def prepare(X, noise_init, noise_hypervolume, n_components) -> NoiseModel:
    """The :class:`NoiseModel` of a fit on in-memory data ``X``."""
    n = X.shape[0]
    V, kind, box = hypervolume(X, return_box=True)
    if noise_hypervolume is None:
        if not V > 0 or not np.isfinite(V):
            raise ValueError(
                f"The data's hypervolume is {V} (constant or collinear features): the noise "
                "component needs a region of positive volume; pass noise_hypervolume=..."
            )
    else:
        # the data's axis box, scaled about its centre to the given volume
        lo, hi = X.min(axis=0), X.max(axis=0)
        width = np.where(hi > lo, hi - lo, 1.0)
        width = width * (float(noise_hypervolume) / np.prod(width)) ** (1 / X.shape[1])
        mid = (lo + hi) / 2
        box = (np.zeros(X.shape[1]), np.eye(X.shape[1]), mid - width / 2, mid + width / 2)
        V, kind = float(noise_hypervolume), "given"
    if noise_init is None or isinstance(noise_init, str):
        mask = nn_clean(X)
    else:
        mask = np.asarray(noise_init, dtype=bool)
        if mask.shape != (n,):
            raise ValueError(
                f"`noise_init` has {mask.shape[0]} entries but X has {n} rows; pass one "
                "boolean per row."
            )
    if n - int(mask.sum()) < n_components:
        raise ValueError(
            f"`noise_init` leaves {n - int(mask.sum())} rows that are not noise, fewer than "
            f"n_components={n_components}; flag fewer rows as noise."
        )
    return NoiseModel(V, kind, mask, box)


def sample(est, rng, n_samples):
    """``(X, y)`` from a fitted mixture with noise: noise rows (label -1) uniform on
    the noise region (the box whose volume is ``noise_hypervolume_``), last."""
    probs = np.append(est.weights_, est.noise_weight_)
    counts = rng.multinomial(n_samples, probs / probs.sum())
    X = est._covariance_model.sample(rng, est.means_, est.covariances_, counts[:-1])
    offset, rot, lo, hi = est._noise_fit.box
    U = rng.uniform(lo, hi, size=(int(counts[-1]), lo.shape[0]))
    X = np.concatenate([X, offset + U @ rot.T])
    y = np.concatenate([np.full(int(c), i, dtype=np.int64) for i, c in enumerate(counts[:-1])]
                       + [np.full(int(counts[-1]), -1, dtype=np.int64)])
    return X, y


def log_noise(noise_weight: float, log_volume: float) -> float:
    """``log(pi_0 / V)``."""
    with np.errstate(divide="ignore"):
        return float(np.log(noise_weight)) - log_volume


def noise_log_likelihood(X, means, prec_chol, covariance, log_weights, log_noise_density,
                         responsibilities=False):
    """``log p(x_n)`` with the noise term, and optionally ``log r_nk`` (noise last).

    ``log_weights`` are the Gaussians' ``log pi_k`` (summing with ``pi_0`` to one).
    """
    if not responsibilities:
        g = _kernels.mixture_log_likelihood(X, means, prec_chol, covariance, log_weights)
        return np.logaddexp(g, log_noise_density)
    g, log_resp = _kernels.mixture_log_likelihood(
        X, means, prec_chol, covariance, log_weights, responsibilities=True
    )
    ln = np.logaddexp(g, log_noise_density)
    out = np.empty((X.shape[0], log_resp.shape[1] + 1))
    out[:, :-1] = log_resp + (g - ln)[:, None]
    out[:, -1] = log_noise_density - ln
    return ln, out


class NoiseStep:
    """The noise component's part of one EM run (Banfield & Raftery 1993).

    ``GaussianMixture._run_start`` runs one loop for every fit; with a noise
    component it asks this object for the start, for the E-step (the
    log-likelihood with the noise term, and the data re-weighted by each row's
    Gaussian responsibility ``1 - r_0``, from which the type's M-step takes the
    Gaussians' statistics) and for the weights after the M-step (the
    Gaussians' weights scaled to sum to ``1 - pi_0``).
    """

    def __init__(self, data, noise, n_components):
        self.noise = noise
        self.data = data
        # rows per block of the E-step (its K + 1 columns of log densities)
        self.step = _kernels.chunk_rows(data.n, n_components + 1, data.d)
        w = data.sample_weight
        self.w_all = np.ones(data.n) if w is None else np.asarray(w, dtype=np.float64)
        self.total = float(self.w_all.sum())
        # shares the blocks, threads and workspaces; its own weights
        self.weighted = copy.copy(data)
        self.pi0_new = None

    def initial(self, est, shift, rng, inits, init_params):
        """Initial parameters from the rows outside the initial noise set."""
        from bayesgmm.em._degeneracy import DataSpread
        from bayesgmm.em._engine import _Data
        from bayesgmm.em._init import initial_parameters

        data, w_all = self.data, self.w_all
        k = est.n_components
        mask = self.noise.initial
        w = data.sample_weight
        clean = _Data(data.X[~mask], None if w is None else w_all[~mask], n_components=k)
        weights_init, means_init, precisions_init = inits
        params = initial_parameters(
            clean, shift, rng, est._covariance_model, k, init_params=init_params,
            reg_covar=est.reg_covar, spread=DataSpread(clean, shift), weights_init=weights_init,
            means_init=means_init, precisions_init=precisions_init,
        )
        pi0 = float(w_all[mask].sum()) / self.total
        pi0 = max(pi0, 0.5 / data.n)  # a zero weight would stay zero
        weights = np.asarray(params[0], dtype=np.float64)
        return (weights / weights.sum() * (1 - pi0), *params[1:])

    def e_step(self, params, log_w, covariance):
        """``(lower_bound, weighted_data)``: the mean log-likelihood per unit
        weight with the noise term, and the data weighted for the M-step."""
        weights, means, _, prec_chol = params
        data = self.data
        pi0 = max(0.0, 1.0 - float(np.sum(weights)))
        ln0 = log_noise(pi0, self.noise.log_volume)
        ln = np.concatenate([
            noise_log_likelihood(data.X[s : s + self.step], means, prec_chol, covariance, log_w,
                                 ln0)
            for s in range(0, data.n, self.step)
        ])
        r0 = np.exp(ln0 - ln)
        self.weighted.sample_weight = self.w_all * (1.0 - r0)
        self.pi0_new = float(self.w_all @ r0) / self.total
        return float(self.w_all @ ln) / self.total, self.weighted

    def after_m_step(self, params):
        """The M-step's parameters with the Gaussians' weights summing to ``1 - pi_0``."""
        g_w, *rest = params
        return (g_w * (1.0 - self.pi0_new), *rest)


def noise_with_missing_error(noise_argument, off):
    """The one error for a noise component together with ``missing="marginalize"``.

    ``noise_argument`` names the caller's noise parameter as given (``"noise=True"``,
    ``"noise_hypervolume"``), ``off`` the value that turns it off.
    """
    return ValueError(
        f"{noise_argument} and missing='marginalize' cannot be combined: the noise "
        "component's density 1/V has no marginal over a row's observed coordinates "
        "(V is mclust's hypervolume, possibly of a rotated box). Pass "
        f"{off} to integrate missing values out, or missing='error' (and drop or impute "
        "rows with NaN) to keep the noise component."
    )
