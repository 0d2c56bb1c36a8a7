"""Numerical kernels for Gaussian mixtures (numpy/scipy only), type-agnostic.

Everything here works on plain ``float64`` numpy arrays in scikit-learn's
parameter layout for a covariance type, and never looks at the type's name:
what is specific to a parameterisation (its Mahalanobis distances, per-row
moment features, the expansion of its log-density, the layout of its second
moments) is asked of the covariance *object* passed in (a
:class:`bayesgmm.covariance.CovarianceModel`, duck-typed: this layer does not
import that one). Callers holding a name resolve it first with
:func:`bayesgmm.covariance.get_covariance_type`.

``precisions_chol`` is the upper-triangular-transposed factor used by
scikit-learn: ``precision = P @ P.T`` with ``P = inv(chol(cov)).T``, so that
``||(x - mu) @ P||^2`` is the Mahalanobis distance.

The log-densities of all components are computed with one matrix product per
row chunk (e.g. ``X_chunk @ [P_1 | P_2 | ... | P_K]`` for ``full``), so no
``N x K x D`` temporary is made whole: the chunk length is chosen from a
memory budget (:data:`CHUNK_BYTES`). :func:`mixture_log_likelihood` turns
them into ``log p(x_n)`` and responsibilities. The sufficient statistics of
the M-step are accumulated chunk by chunk (:func:`accumulate_statistics`: two
matrix products per chunk on the per-row moment features
``[second moments | x | 1]``, or per-component products where the type asks
for them) and turned into parameters by the type's ``m_step``; a chunked or
distributed EM is just a sum of :class:`SufficientStatistics` over chunks.

Accuracy: the expanded forms cancel when components lie far from the
expansion's origin in units of their own spread (tight clusters far apart,
large offsets). Each call estimates that rounding error from the operands
alone (:func:`_expansion_error`); above :data:`EXPANSION_TOLERANCE` the
log-densities and statistics are computed on the rows centred on each
component's mean instead (:class:`_CentredPlan`; the statistics then
carry their ``centre``), exact to a few ulps at any separation or offset.
Hard assignments (initialisations) always use centred statistics
(:func:`label_statistics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bayesgmm.exceptions import SingularCovarianceError

__all__ = [
    "CHUNK_BYTES",
    "SufficientStatistics",
    "accumulate_statistics",
    "chunk_rows",
    "estimate_log_gaussian_prob",
    "label_statistics",
    "log_responsibilities",
    "logsumexp_rows",
    "mixture_log_likelihood",
    "moment_features",
    "workspace_size",
]

#: Memory budget (bytes) for the temporaries of one row chunk.
CHUNK_BYTES = 64 * 2**20

# The EM loop works on chunks of CHUNK_BYTES / _EM_CHUNK_DIVISOR bytes of
# temporaries: small enough to stay in the last-level cache, large enough for
# efficient matrix products and little Python overhead per chunk.
_EM_CHUNK_DIVISOR = 8

_LOG_2PI = math.log(2.0 * math.pi)
_EPS = float(np.finfo(np.float64).eps)


def singular_message(which: str = "") -> str:
    return (
        "Fitting the mixture model failed because "
        + (f"{which} " if which else "some components ")
        + "ha"
        + ("s" if which else "ve")
        + " a singular (not positive-definite) covariance matrix, typically "
        "caused by a component that collapsed onto a few identical or collinear "
        "observations. Increase `reg_covar` (e.g. 1e-4), scale the features to "
        "comparable ranges (e.g. standardise each column), or use fewer "
        "components."
    )


def chunk_rows(
    n_samples: int, n_components: int, n_features: int, budget: int | None = None
) -> int:
    """Number of rows per chunk so that the chunk temporaries fit in ``budget``.

    A chunk of ``n`` rows needs about ``n * (2 * K * D + 4 * K + 2 * D)``
    float64 values (the stacked Cholesky products, the log-probabilities,
    responsibilities and a centred copy of the rows).

    Parameters
    ----------
    n_samples, n_components, n_features : int
        Problem size.
    budget : int, optional
        Bytes the temporaries of one chunk may take (default: the module's
        :data:`CHUNK_BYTES` at call time).

    Returns
    -------
    int
        Rows per chunk, at least 1 and at most ``n_samples``.

    Examples
    --------
    >>> from bayesgmm._kernels import chunk_rows
    >>> chunk_rows(10**6, 10, 10)
    32263
    """
    if budget is None:
        budget = CHUNK_BYTES
    per_row = 8 * (2 * n_components * n_features + 4 * n_components + 2 * n_features)
    return int(max(1, min(max(n_samples, 1), budget // max(per_row, 1))))


# --------------------------------------------------------------------------
# Cholesky factors of precisions
# --------------------------------------------------------------------------


def precision_chol_of_matrix_stack(covariances: np.ndarray, labels) -> np.ndarray:
    """``inv(chol(C)).T`` for a stack ``(..., D, D)``."""
    try:
        cov_chol = np.linalg.cholesky(covariances)
    except np.linalg.LinAlgError:
        # find the offending matrix to name it
        flat = covariances.reshape(-1, *covariances.shape[-2:])
        bad = []
        for i, c in enumerate(flat):
            try:
                np.linalg.cholesky(c)
            except np.linalg.LinAlgError:
                bad.append(i)
        which = labels(bad)
        raise SingularCovarianceError(singular_message(which)) from None
    # inv(L) for the whole stack in one batched LAPACK call (scipy's
    # solve_triangular goes through a multithreaded BLAS trsm that costs
    # milliseconds per tiny matrix when the cores are busy); the inverse of a
    # lower-triangular matrix is lower-triangular, tril() drops rounding noise.
    out = np.tril(np.linalg.inv(cov_chol))
    return np.ascontiguousarray(np.swapaxes(out, -1, -2))


# --------------------------------------------------------------------------
# E-step
# --------------------------------------------------------------------------


def _covariance_model(covariance_type):
    """The covariance object itself; a name is resolved by the caller (a higher layer)."""
    if isinstance(covariance_type, str):
        raise TypeError(
            f"The kernels take a covariance type object, not the name {covariance_type!r}; "
            "pass bayesgmm.covariance.get_covariance_type(name)."
        )
    return covariance_type


class _LogProbPlan:
    """Pre-computed operands of the batched log-density (per call, not per chunk).

    The type's Mahalanobis form (:meth:`mahalanobis_plan`) is used where its
    rounding is negligible (:func:`_expansion_error` at most
    :data:`EXPANSION_TOLERANCE`); otherwise every component's log-density is
    evaluated on the rows centred on its own mean (:class:`_CentredPlan`).
    """

    def __init__(self, means, precisions_chol, covariance_type):
        means = np.asarray(means, dtype=np.float64)
        p = np.asarray(precisions_chol, dtype=np.float64)
        ct = _covariance_model(covariance_type)
        k, d = means.shape
        # types whose Mahalanobis form is expanded are evaluated in coordinates
        # centred on the means' mean (x - mu is unchanged)
        centre = means.mean(axis=0) if k and ct.centre_log_density else None
        self.centre = centre if centre is not None and np.any(centre) else None
        self.const = -0.5 * d * _LOG_2PI + ct.log_det_cholesky(p, d)
        local = means if self.centre is None else means - self.centre
        self.centred = None
        A, c = _expansion_operands(local, p, np.zeros(k), ct)
        if k and _expansion_error(A, c, local, ct.expansion_conditioning(p)) > EXPANSION_TOLERANCE:
            self.centred = _CentredPlan(means, p, np.zeros(k), ct)
        else:
            self.mahalanobis = ct.mahalanobis_plan(local, p)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        if self.centred is not None:
            return self.centred(X).T
        if self.centre is not None:
            X = X - self.centre
        maha = self.mahalanobis(X)
        maha *= -0.5
        maha += self.const
        return maha


def estimate_log_gaussian_prob(
    X, means, precisions_chol, covariance_type, *, chunk_size: int | None = None
) -> np.ndarray:
    """Log-density ``log N(x_n | mu_k, Sigma_k)`` of every row under every component.

    Computed in row chunks with one matrix product per chunk, so memory is
    ``O(N * K)`` for the result plus a bounded chunk temporary.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Data.
    means : ndarray of shape (n_components, n_features)
        Component means.
    precisions_chol : ndarray
        Cholesky factors of the precisions (scikit-learn layout).
    covariance_type : CovarianceModel
        The covariance parameterisation, an object (e.g.
        ``bayesgmm.covariance.get_covariance_type("full")``), not its name.
    chunk_size : int, optional
        Rows per chunk; by default chosen from :data:`CHUNK_BYTES`.

    Returns
    -------
    ndarray of shape (n_samples, n_components)

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import estimate_log_gaussian_prob
    >>> from bayesgmm.covariance import get_covariance_type
    >>> lp = estimate_log_gaussian_prob(np.zeros((1, 1)), np.zeros((1, 1)),
    ...                                 np.ones((1, 1, 1)), get_covariance_type("full"))
    >>> round(float(lp[0, 0]), 6)  # log N(0 | 0, 1)
    -0.918939
    """
    X = np.asarray(X, dtype=np.float64)
    means = np.asarray(means, dtype=np.float64)
    n, d = X.shape
    k = means.shape[0]
    plan = _LogProbPlan(means, precisions_chol, covariance_type)
    step = chunk_size or chunk_rows(n, k, d)
    if n <= step:
        return plan(X)
    out = np.empty((n, k))
    for s in range(0, n, step):
        out[s : s + step] = plan(X[s : s + step])
    return out


def log_responsibilities(weighted_log_prob) -> tuple[np.ndarray, np.ndarray]:
    """Normalise weighted log-probabilities with log-sum-exp.

    Parameters
    ----------
    weighted_log_prob : ndarray of shape (n_samples, n_components)
        ``log pi_k + log N(x_n | mu_k, Sigma_k)``.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
        ``log p(x_n)``.
    log_resp : ndarray of shape (n_samples, n_components)
        ``log p(z_n = k | x_n)``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import log_responsibilities
    >>> norm, lr = log_responsibilities(np.log([[0.25, 0.75]]))
    >>> round(float(norm[0]), 12), np.exp(lr).round(2).tolist()
    (0.0, [[0.25, 0.75]])
    """
    w = np.asarray(weighted_log_prob, dtype=np.float64)
    if w.shape[1] == 0:
        return np.full(w.shape[0], -np.inf), w.copy()
    # Subtract the row max first: ``w - logsumexp(w)`` loses the log-sum term
    # when |w| >~ 1e13 (it is below one ulp of w; [[-1e16, -1e16]] gave [1, 1]).
    m = np.max(w, axis=1, keepdims=True)
    finite = np.isfinite(m)
    m_safe = np.where(finite, m, 0.0)
    with np.errstate(under="ignore", invalid="ignore", divide="ignore"):
        log_resp = w - m_safe  # exactly 0 at the row max
        e = np.maximum(log_resp, -700.0)  # as logsumexp_rows: skip exp's slow path
        np.exp(e, out=e)
        lse = np.log(e.sum(axis=1, keepdims=True))
        log_resp -= lse
        log_norm = (m_safe + lse)[:, 0]
    if not finite.all():  # all -inf -> log_norm -inf; +inf / nan propagate
        log_norm = np.where(finite[:, 0], log_norm, m[:, 0])
        with np.errstate(invalid="ignore"):
            log_resp = np.where(finite, log_resp, w - m)
    return log_norm, log_resp


def logsumexp_rows(w) -> np.ndarray:
    """``log(sum_k exp(w[n, k]))`` per row, stable and fast.

    Terms more than 700 below the row maximum add less than ``1e-304`` to a
    sum that is at least one, so they are clipped before ``exp`` (which is
    ~30x slower on arguments that underflow).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import logsumexp_rows
    >>> logsumexp_rows(np.log([[1.0, 3.0], [2.0, 2.0]])).round(6)
    array([1.386294, 1.386294])
    """
    w = np.asarray(w, dtype=np.float64)
    if w.shape[1] == 0:
        return np.full(w.shape[0], -np.inf)
    m = np.max(w, axis=1)
    finite = np.isfinite(m)
    m_safe = np.where(finite, m, 0.0)
    e = np.maximum(w - m_safe[:, None], -700.0)
    np.exp(e, out=e)
    with np.errstate(divide="ignore"):
        out = m_safe + np.log(e.sum(axis=1))
    if not finite.all():  # all -inf -> -inf; any +inf -> +inf; nan stays nan
        out = np.where(finite, out, m)
    return out


def mixture_log_likelihood(
    X,
    means,
    precisions_chol,
    covariance_type,
    log_weights,
    *,
    responsibilities: bool = False,
    chunk_size: int | None = None,
):
    """``log p(x_n)`` of each row under a mixture, and optionally the responsibilities.

    The one mixture log-likelihood of the package: the component
    log-densities (:func:`estimate_log_gaussian_prob`) plus ``log_weights``,
    normalised with a stable log-sum-exp (:func:`logsumexp_rows`, or
    :func:`log_responsibilities` when the responsibilities are wanted).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    means : ndarray of shape (n_components, n_features)
    precisions_chol : ndarray
        Cholesky factors of the precisions (scikit-learn layout).
    covariance_type : CovarianceModel
        The covariance parameterisation (an object, not its name).
    log_weights : ndarray of shape (n_components,)
        ``log pi_k`` (``-inf`` for a zero weight).
    responsibilities : bool, default=False
        Also return ``log p(z_n = k | x_n)``.
    chunk_size : int, optional
        Rows per chunk of the log-densities.

    Returns
    -------
    log_norm : ndarray of shape (n_samples,)
        ``log p(x_n)``.
    log_resp : ndarray of shape (n_samples, n_components)
        Only with ``responsibilities=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import mixture_log_likelihood
    >>> from bayesgmm.covariance import get_covariance_type
    >>> sph = get_covariance_type("spherical")
    >>> X, means = np.zeros((1, 1)), np.array([[-1.0], [1.0]])
    >>> ll, lr = mixture_log_likelihood(X, means, np.ones(2), sph, np.log([0.5, 0.5]),
    ...                                 responsibilities=True)
    >>> round(float(ll[0]), 6), np.exp(lr).round(2).tolist()  # log N(1 | 0, 1)
    (-1.418939, [[0.5, 0.5]])
    """
    wlp = estimate_log_gaussian_prob(
        X, means, precisions_chol, covariance_type, chunk_size=chunk_size
    )
    wlp += log_weights
    if responsibilities:
        return log_responsibilities(wlp)
    return logsumexp_rows(wlp)


# --------------------------------------------------------------------------
# Sufficient statistics and M-step
# --------------------------------------------------------------------------


@dataclass
class SufficientStatistics:
    """Weighted sufficient statistics of one EM iteration (additive over chunks).

    Attributes
    ----------
    nk : ndarray (K,)
        ``sum_n w_n r_nk``.
    sx : ndarray (K, D)
        ``sum_n w_n r_nk x_n``.
    sxx : ndarray
        Second moments in the covariance type's layout (its
        ``second_moments``): ``full`` (K, D, D) ``sum w r x x^T``; ``tied``
        (D, D) ``sum w x x^T``; ``diag`` (K, D) ``sum w r x*x``; ``spherical``
        (K, 1) ``sum w r |x|^2``.
    loglik : float
        ``sum_n w_n log p(x_n)`` under the parameters of the E-step (0 when
        the statistics come from given responsibilities).
    weight : float
        ``sum_n w_n``.
    n : int
        Number of rows.
    worst : ndarray (m,), worst_index : ndarray (m,)
        The ``m`` lowest log-likelihoods seen and their global row indices
        (used to re-seed empty components).
    centre : ndarray (K, D), optional
        Where the moments were taken: ``sx`` and ``sxx`` are then sums of
        ``x - centre[k]`` and its second moments for component ``k`` (the
        per-component centred statistics of ill-conditioned data, see
        :func:`accumulate_statistics`); None: about the origin of the
        coordinates passed. The M-step adds it back to the means (the
        covariances are invariant).
    """

    nk: np.ndarray
    sx: np.ndarray
    sxx: np.ndarray
    loglik: float = 0.0
    weight: float = 0.0
    n: int = 0
    worst: np.ndarray | None = None
    worst_index: np.ndarray | None = None
    centre: np.ndarray | None = None

    def __add__(self, other: "SufficientStatistics") -> "SufficientStatistics":
        if self.worst is None:
            worst, worst_index = other.worst, other.worst_index
        elif other.worst is None:
            worst, worst_index = self.worst, self.worst_index
        else:
            m = max(len(self.worst), len(other.worst))
            w = np.concatenate([self.worst, other.worst])
            i = np.concatenate([self.worst_index, other.worst_index])
            order = np.lexsort((i, w))[:m]
            worst, worst_index = w[order], i[order]
        return SufficientStatistics(
            self.nk + other.nk,
            self.sx + other.sx,
            self.sxx + other.sxx,
            self.loglik + other.loglik,
            self.weight + other.weight,
            self.n + other.n,
            worst,
            worst_index,
            self.centre,
        )


def _moment_features_t(xc: np.ndarray, shift, covariance_type, m2: int, out=None) -> np.ndarray:
    """Per-row features of one chunk, transposed: ``Z.T = [second moments | x | 1].T``.

    ``xc`` is the chunk ``(n, D)`` (``shift`` is subtracted). Rows of the
    result, each a contiguous length-``n`` vector: the ``m2`` second-moment
    features of the type (its ``second_moment_features``: e.g. the upper
    triangle of ``x x^T`` for ``full``/``tied``, ``x**2`` for ``diag``,
    ``|x|^2`` for ``spherical``); then the ``D`` rows of ``x``; then a row of
    ones. The E-step is then ``A.T @ Z.T`` (constants folded into the last
    row of ``A``) and the M-step statistics ``R @ Z`` (its last column is
    ``nk``): two matrix products per chunk for all components together, and
    every elementwise pass runs over long contiguous rows. ``out``: a
    contiguous buffer of ``(m2 + D + 1) * n`` float64 to fill instead of a
    new array.
    """
    n, d = xc.shape
    zt = np.empty((m2 + d + 1, n)) if out is None else out.reshape(m2 + d + 1, n)
    xt = zt[m2 : m2 + d]
    if shift is not None:
        np.subtract(xc.T, shift[:, None], out=xt)
    else:
        xt[...] = xc.T
    zt[-1] = 1.0
    covariance_type.second_moment_features(xt, zt[:m2])
    return zt


def _log_normaliser(precisions_chol, log_weights, covariance_type, d):
    """``log w_k - D/2 log(2 pi) + log det P_k`` (K,): the weighted log-density less
    the Mahalanobis term."""
    return (
        -0.5 * d * _LOG_2PI
        + covariance_type.log_det_cholesky(precisions_chol, d)
        + np.asarray(log_weights, dtype=np.float64)
    )


def _expansion_operands(means, precisions_chol, log_weights, covariance_type):
    """``A`` (M, K) and ``c`` (K,) with ``Z @ A + c = log w_k + log N(x | mu_k, S_k)``."""
    means = np.asarray(means, dtype=np.float64)
    p = np.asarray(precisions_chol, dtype=np.float64)
    const = _log_normaliser(p, log_weights, covariance_type, means.shape[1])
    A, c = covariance_type.expansion_operands(means, p, const)
    return np.ascontiguousarray(A), c


#: Largest estimated rounding error (nats, see :func:`_expansion_error`) of a
#: log-density evaluated by the one-product moment expansion or the type's
#: Mahalanobis form; above it the kernels centre the rows on each component's
#: mean instead (K passes of the features per chunk instead of one).
#: Measured over separation/sd ratios 1e2..1e6 and offsets 0..1e9, all four
#: types (``tests/test_kernels_accuracy.py``): the expansion's relative errors
#: in the covariances and the score stay below 0.2 times the estimate, so
#: below 2e-11 with this threshold; ordinary data stay on the fast path
#: (estimates at most 4e-13 on ``benchmarks/em.py``'s data and Old Faithful).
EXPANSION_TOLERANCE = 1e-10


def _expansion_error(A, c, means, conditioning) -> float:
    """Estimated rounding error (nats) of the expanded log-densities near the means.

    The expansion evaluates ``log N(x | mu_k, S_k)`` as ``z(x) @ A_k + c_k``
    (``A``, ``c`` from :func:`_expansion_operands`). Two cancellations:

    * offset: near ``mu_k`` its linear term ``x . (Lambda_k mu_k)``, its
      constant and its quadratic term are each of size about
      ``|Lambda_k mu_k| . |mu_k|`` and cancel to a result of order ``D``
      (``means`` relative to the origin of the expansion, e.g. the fit's
      centring shift);
    * correlation: the quadratic form's terms ``Lambda_ij x_i x_j`` exceed
      its value (about ``D``) by the type's ``expansion_conditioning``
      (e.g. a component collapsed onto a plane).

    Each term carries a relative rounding error of order ``eps``; this
    returns ``eps`` times the largest total size over the components (plus
    ``|c_k|``). The offset part also bounds the relative error of the
    M-step's ``sxx / nk - mu mu^T``. Components with a zero weight
    (``c_k = -inf``) are left out. Cheap: no pass over the data.
    """
    d = means.shape[1]
    size = np.abs(A[-d:] * means.T).sum(axis=0)  # A[-d:]: Lambda_k mu_k
    size += np.abs(c)
    size += d * np.asarray(conditioning)
    return _EPS * float(np.max(size, initial=0.0, where=np.isfinite(c)))


class _CentredPlan:
    """Weighted log-densities on rows centred on each component's own centre.

    The accurate path of the kernels (see :func:`_expansion_error`): component
    ``k``'s Mahalanobis distances come from the type's own whitened form
    (``mahalanobis_plan`` of that component alone) on ``x - centres[k]``,
    which neither cancels by the offset of the components nor by their
    correlations; ``x - c`` is exact to a relative ``eps``. ``K`` passes over
    each chunk instead of one product.
    """

    def __init__(self, centres, precisions_chol, log_weights, covariance_type):
        k, d = centres.shape
        p = np.asarray(precisions_chol, dtype=np.float64)
        self.centres, self.covariance_type = centres, covariance_type
        self.const = _log_normaliser(p, log_weights, covariance_type, d) + np.zeros(k)
        zero = np.zeros((1, d))
        self.plans = [
            covariance_type.mahalanobis_plan(zero, covariance_type.component_precision_cholesky(p, j))
            for j in range(k)
        ]

    def __call__(self, xc, features=None) -> np.ndarray:
        """(K, n) weighted log-densities of the chunk ``xc``; ``features``: a list
        that receives each component's moment features of ``x - centres[k]``
        (for its statistics)."""
        k = self.centres.shape[0]
        ct = self.covariance_type
        m2 = ct.n_moment_features(xc.shape[1])
        out = np.empty((k, xc.shape[0]))
        for j in range(k):
            xj = xc - self.centres[j]
            out[j] = self.plans[j](xj)[:, 0]
            out[j] *= -0.5
            out[j] += self.const[j]
            if features is not None:
                features.append(_moment_features_t(xj, None, ct, m2))
        return out


def _normalise_columns(wt: np.ndarray) -> np.ndarray:
    """In place: ``wt`` (K, n) log-weights -> responsibilities; returns ``log p(x_n)``."""
    m = np.maximum.reduce(wt, axis=0)
    if not np.isfinite(m).all():  # rows where every component has -inf (or inf) density
        m = np.where(np.isfinite(m), m, 0.0)
    # exp() of arguments below ~-708 underflows to subnormals/zero and takes a
    # slow path (~30x); responsibilities below exp(-700) ~ 1e-304 are zero for
    # every purpose here, so clip first (to max - 700, then subtract the max).
    np.maximum(wt, m - 700.0, out=wt)
    np.subtract(wt, m, out=wt)
    np.exp(wt, out=wt)
    s = np.ones(wt.shape[0]) @ wt
    with np.errstate(divide="ignore", invalid="ignore"):
        wt *= 1.0 / s
        return m + np.log(s)


#: Rows per batch of :func:`_stats_product`.
_STATS_BATCH = 2048


def _stats_product(rt: np.ndarray, zt: np.ndarray) -> np.ndarray:
    """``rt @ zt.T`` ((K, n) x (M, n) -> (K, M)), as a batch of products over
    row slices of at most :data:`_STATS_BATCH` rows, summed.

    Same result up to rounding (the sum over rows is split into partial
    sums). With OpenBLAS, one product whose inner dimension is the chunk
    length (~10^4) did not run concurrently when called from two threads,
    while the batched form (one numpy call, inner dimension <= 4096) did and
    is as fast on one thread (``benchmarks/em.py``).
    """
    n = rt.shape[1]
    b = _STATS_BATCH
    a = n // b
    if a < 2:
        return rt @ zt.T
    k, m = rt.shape[0], zt.shape[0]
    head = a * b
    r3 = rt[:, :head].reshape(k, a, b).transpose(1, 0, 2)
    z3 = zt[:, :head].reshape(m, a, b).transpose(1, 2, 0)
    out = np.add.reduce(np.matmul(r3, z3), axis=0)
    if head < n:
        out += rt[:, head:] @ zt[:, head:].T
    return out


def _em_chunk_size(n: int, d: int, k: int, covariance_type, concurrent: int = 1) -> int:
    """Default rows per chunk of :func:`accumulate_statistics`.

    ``concurrent``: how many chunks may be in flight at once (worker
    threads); the memory bound below is shared between them.
    """
    if covariance_type.per_component(d, k):
        per_row = k * d + 2 * d + 2 * k  # (X - mu_k) P_k for all k, a weighted copy
    else:
        per_row = covariance_type.n_moment_features(d) + d + 1 + 2 * k  # float64 per row
    rows_cache = (CHUNK_BYTES // _EM_CHUNK_DIVISOR) // (8 * per_row)
    # never more temporaries than one n x (D + 2K) array (what any EM
    # needs for its responsibilities and a centred copy of the data)
    rows_mem = n * (d + 2 * k) // (per_row * max(int(concurrent), 1))
    return int(max(256, min(65536, rows_cache, rows_mem)))


def workspace_size(
    n_samples: int,
    n_features: int,
    n_components: int,
    covariance_type,
    features: bool,
    chunk_size: int | None = None,
) -> int:
    """Size (float64 values) of the ``workspace`` of :func:`accumulate_statistics`.

    0 where it uses none (a type using per-component products, e.g. ``full``
    with many features). ``features``: whether precomputed moment features
    will be passed (then the workspace holds responsibilities only).

    Examples
    --------
    >>> from bayesgmm._kernels import workspace_size
    >>> from bayesgmm.covariance import get_covariance_type
    >>> # 100-row chunks: 2 responsibilities and 3 + 3 + 1 features ([x*x | x | 1]) per row
    >>> workspace_size(1000, 3, 2, get_covariance_type("diag"), features=False, chunk_size=100)
    900
    """
    if covariance_type.per_component(n_features, n_components):
        return 0
    step = chunk_size or _em_chunk_size(n_samples, n_features, n_components, covariance_type)
    step = min(step, max(n_samples, 1))
    m = 0 if features else covariance_type.n_moment_features(n_features) + n_features + 1
    return step * (n_components + m)


def moment_features(
    X, covariance_type, n_components: int, shift=None, out=None, chunk_size=None
) -> list:
    """The per-chunk features that :func:`accumulate_statistics` builds from ``X``.

    They do not depend on the parameters, so an EM loop can build them once
    per fit and pass them as ``features=`` to every iteration. Memory:
    ``N * (m2 + D + 1)`` float64 (``m2`` the type's ``n_moment_features``:
    ``D`` for ``diag``, 1 for ``spherical``), in one buffer (``out``,
    contiguous, if given). ``chunk_size``: rows per chunk (default: what
    :func:`accumulate_statistics` would use for ``X``).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import moment_features
    >>> from bayesgmm.covariance import get_covariance_type
    >>> moment_features(np.array([[1.0, 2.0]]), get_covariance_type("spherical"), 1)[0].ravel()
    array([5., 1., 2., 1.])
    """
    covariance_type = _covariance_model(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    step = chunk_size or _em_chunk_size(n, d, n_components, covariance_type)
    m2 = covariance_type.n_moment_features(d)
    m = m2 + d + 1
    # one buffer (numpy asks the kernel for huge pages above 4 MiB: far
    # fewer page faults than one allocation per chunk)
    buf = np.empty(m * n) if out is None else out
    return [
        _moment_features_t(
            X[s : s + step], shift, covariance_type, m2, out=buf[m * s : m * min(s + step, n)]
        )
        for s in range(0, n, step)
    ]


def accumulate_statistics(
    X,
    covariance_type,
    *,
    resp=None,
    means=None,
    precisions_chol=None,
    log_weights=None,
    sample_weight=None,
    shift=None,
    chunk_size: int | None = None,
    row_offset: int = 0,
    n_worst: int = 0,
    features=None,
    workspace=None,
) -> SufficientStatistics:
    """E-step plus sufficient statistics, chunk by chunk.

    Either ``resp`` (given responsibilities, e.g. from an initialisation) or
    the current parameters (``means``, ``precisions_chol``, ``log_weights``)
    must be given. ``shift`` is subtracted from every row first (centring
    reduces cancellation in the moment expansion); the parameters passed must
    then be expressed in the shifted coordinates too.

    Each chunk costs two matrix products for all components together: the
    per-row features ``Z = [second moments | x]`` (the type's
    ``second_moment_features``: ``upper(x x^T)`` for ``full``/``tied``,
    ``x**2`` for ``diag``, ``|x|^2`` for ``spherical``) give the weighted
    log-densities as ``Z @ A + c`` (the type's ``expansion_operands``) and
    the statistics as ``r.T @ Z``. Where the type asks for per-component
    products (its ``per_component``: ``full`` covariances with ``D >= 5K``)
    the log-densities come from ``(x - mu_k) P_k`` for all ``k`` in one
    product and the second moments from one ``(r_k x)^T x`` product per
    component instead (same statistics up to rounding). Where the expansion
    would lose more than :data:`EXPANSION_TOLERANCE` nats
    (:func:`_expansion_error`), each component's log-densities and moments
    are computed on the rows centred on its mean (``K`` feature passes per
    chunk; the statistics' ``centre`` is then ``means``). Otherwise, where the
    type has a compiled one-pass kernel (its ``fused_statistics``: ``diag``),
    that kernel computes the log-densities from ``x - mu_k`` directly, the
    responsibilities and the statistics in one pass over the rows (same
    statistics up to rounding; ``features``, ``chunk_size`` and ``workspace``
    are then unused). Chunks are small (about
    :data:`CHUNK_BYTES` / 8 of temporaries, and never more than one
    ``n x (D + 2K)`` array), so they stay in cache.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    covariance_type : CovarianceModel
        The covariance parameterisation (an object, not its name).
    resp : ndarray of shape (n_samples, n_components), optional
    means, precisions_chol, log_weights : ndarray, optional
    sample_weight : ndarray of shape (n_samples,), optional
    shift : ndarray of shape (n_features,), optional
    chunk_size : int, optional
    row_offset : int, default=0
        Global index of the first row (for ``worst_index``).
    n_worst : int, default=0
        How many lowest-likelihood rows to remember.
    features : list of ndarray, optional
        The per-chunk features of ``X`` from :func:`moment_features` (same
        ``shift``, ``covariance_type`` and ``n_components``), reused across
        EM iterations instead of being rebuilt; ``chunk_size`` is then ignored.
    workspace : ndarray, optional
        A contiguous float64 buffer reused for the per-chunk temporaries
        (responsibilities, and the features when ``features`` is not given)
        instead of allocating them for every chunk; ignored when smaller
        than :func:`workspace_size`.

    Returns
    -------
    SufficientStatistics

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import accumulate_statistics
    >>> from bayesgmm.covariance import get_covariance_type
    >>> X = np.array([[0.0], [2.0]])
    >>> st = accumulate_statistics(X, get_covariance_type("diag"), resp=np.ones((2, 1)))
    >>> st.nk, st.sx, st.sxx
    (array([2.]), array([[2.]]), array([[4.]]))
    """
    covariance_type = _covariance_model(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    n, d = X.shape
    k = resp.shape[1] if resp is not None else np.asarray(means).shape[0]
    # e.g. full covariances with many features and few components: per-component
    # products (X - mu_k) P_k instead of the D(D+1)/2 moment features
    per_comp = features is None and covariance_type.per_component(d, k)
    m2 = covariance_type.n_moment_features(d)
    centres = None
    if resp is None:
        means = np.asarray(means, dtype=np.float64)
        A, c = _expansion_operands(means, precisions_chol, log_weights, covariance_type)
        conditioning = covariance_type.expansion_conditioning(precisions_chol)
        if _expansion_error(A, c, means, conditioning) > EXPANSION_TOLERANCE:
            # ill-conditioned (components far from the origin in units of
            # their spread, or nearly singular): each component on its own
            # centred, whitened rows
            centres = means
            centred = _CentredPlan(centres if shift is None else centres + shift,
                                   precisions_chol, log_weights, covariance_type)
            per_comp, features = False, None
        elif not per_comp and covariance_type.fused_statistics(d) is not None:
            return _fused_statistics(
                X, covariance_type, means, precisions_chol, log_weights, sample_weight,
                shift, row_offset, n_worst,
            )
        else:
            Atc = np.ascontiguousarray(np.concatenate([A, c[None, :]], axis=0).T)  # (K, M+1)
        if per_comp:
            plan = _LogProbPlan(means, precisions_chol, covariance_type)
            log_w = np.asarray(log_weights, dtype=np.float64)
    if features is not None:
        step = features[0].shape[1] if features else max(n, 1)
    else:
        step = chunk_size or _em_chunk_size(n, d, k, covariance_type)
    if centres is not None:  # K feature arrays per chunk
        step = max(256, min(step, (CHUNK_BYTES // _EM_CHUNK_DIVISOR)
                            // (8 * (k * (m2 + d + 2) + k))))
    rbuf = zbuf = None
    if workspace is not None and resp is None and not per_comp and centres is None:
        need_z = 0 if features is not None else m2 + d + 1
        if workspace.size >= step * (k + need_z):
            rbuf = workspace[: step * k]
            if need_z:
                zbuf = workspace[step * k : step * (k + need_z)]
    if per_comp:
        nk, sx, sxx = np.zeros(k), np.zeros((k, d)), np.zeros((k, d, d))
    else:
        srz = np.zeros((k, m2 + d + 1))
    loglik = 0.0
    weight = 0.0
    log_norm_all = np.empty(n) if (resp is None and n_worst > 0) else None
    for s in range(0, n, step):
        xc = X[s : s + step]
        nc = xc.shape[0]
        if per_comp:
            xs = xc if shift is None else xc - shift
        elif centres is not None:
            zts = []
        elif features is not None:
            zt = features[s // step]
        else:
            out = None if zbuf is None else zbuf[: (m2 + d + 1) * nc]
            zt = _moment_features_t(xc, shift, covariance_type, m2, out=out)
        wc = None if sample_weight is None else sample_weight[s : s + step]
        if resp is not None:
            rt = np.array(np.asarray(resp[s : s + step], dtype=np.float64).T, order="C")
        else:
            if per_comp:
                lp = plan(xs)
                lp += log_w
                rt = np.ascontiguousarray(lp.T)
            elif centres is not None:
                rt = centred(xc, zts)
            elif rbuf is None:
                rt = Atc @ zt  # weighted log-densities, (K, n)
            else:  # a reused buffer: no fresh pages (page faults) per chunk
                rt = np.matmul(Atc, zt, out=rbuf[: k * nc].reshape(k, nc))
            log_norm = _normalise_columns(rt)
            loglik += float(log_norm.sum() if wc is None else wc @ log_norm)
            if log_norm_all is not None:
                log_norm_all[s : s + nc] = log_norm
        if wc is not None:
            rt *= wc
            weight += float(wc.sum())
        else:
            weight += float(nc)
        if per_comp:
            nk += rt.sum(axis=1)
            sx += rt @ xs
            for j in range(k):
                sxx[j] += (xs * rt[j][:, None]).T @ xs
        elif centres is not None:
            for j in range(k):
                srz[j] += zts[j] @ rt[j]
        else:
            srz += _stats_product(rt, zt)
    worst = worst_index = None
    if log_norm_all is not None and n:
        worst, worst_index = _worst_rows(log_norm_all, n_worst, row_offset)
    if per_comp:
        return SufficientStatistics(
            nk, sx, 0.5 * (sxx + np.swapaxes(sxx, 1, 2)), loglik, weight, n, worst, worst_index
        )
    return SufficientStatistics(
        srz[:, -1].copy(),
        srz[:, m2:-1].copy(),
        covariance_type.second_moments(srz[:, :m2], d),
        loglik,
        weight,
        n,
        worst,
        worst_index,
        centres,
    )


def _worst_rows(log_norm, n_worst, row_offset):
    """The ``n_worst`` (at most all) lowest per-row log densities, lowest first
    (ties by row), and their row numbers shifted by ``row_offset``."""
    n = log_norm.shape[0]
    m = min(n_worst, n)
    idx = np.argpartition(log_norm, m - 1)[:m] if m < n else np.arange(n)
    order = np.lexsort((idx, log_norm[idx]))
    return log_norm[idx][order], idx[order] + row_offset


def _fused_statistics(
    X, covariance_type, means, precisions_chol, log_weights, sample_weight, shift,
    row_offset, n_worst,
) -> SufficientStatistics:
    """:func:`accumulate_statistics` through the type's compiled one-pass kernel
    (its ``fused_statistics``), where the moment expansion would be accurate."""
    n, d = X.shape
    p = np.asarray(precisions_chol, dtype=np.float64)
    const = _log_normaliser(p, log_weights, covariance_type, d) + np.zeros(means.shape[0])
    srz, log_norm, loglik = covariance_type.fused_statistics(d)(
        X, shift, means, p, const, sample_weight
    )
    weight = float(n if sample_weight is None else np.sum(sample_weight))
    worst = worst_index = None
    if n_worst > 0 and n:
        worst, worst_index = _worst_rows(log_norm, n_worst, row_offset)
    m2 = covariance_type.n_moment_features(d)
    return SufficientStatistics(
        srz[:, -1].copy(),
        srz[:, m2:-1].copy(),
        covariance_type.second_moments(srz[:, :m2], d),
        loglik,
        weight,
        n,
        worst,
        worst_index,
    )


def label_statistics(
    X, labels, centres, covariance_type, *, sample_weight=None, shift=None,
    chunk_size: int | None = None,
) -> SufficientStatistics:
    """Sufficient statistics of hard assignments, about each component's centre.

    The statistics of responsibilities that are one for component
    ``labels[n]`` and zero elsewhere (k-means, one observation per
    component), with the moments of each component taken about
    ``centres[k]`` (e.g. its k-means centre): exact however far the
    components lie from each other, at the cost of one pass of the moment
    features over the rows (each row only for its own component).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    labels : ndarray of int, shape (n_samples,)
        Component of each row, in ``0 .. K - 1``.
    centres : ndarray of shape (n_components, n_features)
        Where each component's moments are taken, in shifted coordinates.
    covariance_type : CovarianceModel
        The covariance parameterisation (an object, not its name).
    sample_weight : ndarray of shape (n_samples,), optional
    shift : ndarray of shape (n_features,), optional
        The coordinates' origin, as in :func:`accumulate_statistics`: rows
        are centred on ``centres[k] + shift``.
    chunk_size : int, optional
        Rows per feature chunk.

    Returns
    -------
    SufficientStatistics
        With ``centre = centres`` (no log-likelihood).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._kernels import label_statistics
    >>> from bayesgmm.covariance import get_covariance_type
    >>> diag = get_covariance_type("diag")
    >>> st = label_statistics(np.array([[1.0], [3.0], [10.0]]), np.array([0, 0, 1]),
    ...                       np.array([[2.0], [10.0]]), diag)
    >>> st.nk, st.sx, st.sxx  # about the centres 2 and 10
    (array([2., 1.]), array([[0.],
           [0.]]), array([[2.],
           [0.]]))
    >>> diag.m_step(st, 0.0)[1:]
    (array([[ 2.],
           [10.]]), array([[1.],
           [0.]]))
    """
    covariance_type = _covariance_model(covariance_type)
    X = np.asarray(X, dtype=np.float64)
    centres = np.asarray(centres, dtype=np.float64)
    n, d = X.shape
    k = centres.shape[0]
    raw = centres if shift is None else centres + shift
    m2 = covariance_type.n_moment_features(d)
    step = chunk_size or _em_chunk_size(n, d, k, covariance_type)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(np.asarray(labels)[order], np.arange(k + 1))
    srz = np.zeros((k, m2 + d + 1))
    for j in range(k):
        rows = order[bounds[j] : bounds[j + 1]]
        for s in range(0, rows.size, step):
            r = rows[s : s + step]
            zt = _moment_features_t(X[r], raw[j], covariance_type, m2)
            srz[j] += zt.sum(axis=1) if sample_weight is None else zt @ sample_weight[r]
    weight = float(n if sample_weight is None else np.sum(sample_weight))
    return SufficientStatistics(
        srz[:, -1].copy(),
        srz[:, m2:-1].copy(),
        covariance_type.second_moments(srz[:, :m2], d),
        0.0,
        weight,
        n,
        centre=centres,
    )
