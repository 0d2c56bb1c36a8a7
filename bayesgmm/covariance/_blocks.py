"""Prior building blocks shared by the covariance classes' Bayesian sections.

Two blocks cover today's parameterisations; the classes document which one they
use and how (see each class's docstring). Both come in a PyMC form (creates
the free random variables) and a numpy form (the same log density of PyMC's
unconstrained value variables, Jacobian included, with its gradient), and the
numpy form is checked against the PyMC form in ``tests/test_covariance_bayes.py``.

LKJ-Cholesky (``full``, ``tied``)
    ``n`` covariance matrices, each ``pm.LKJCholeskyCov(eta, sd_dist=HalfNormal(sigma))``.
    Unconstrained: the row-major packed lower Cholesky factor ``L`` with
    log-diagonal (PyMC's ``cholesky-cov-packed__`` transform), ``D (D + 1) / 2``
    numbers per matrix. With ``sd_i = |L_i.|`` the row norms, PyMC's
    ``_LKJCholeskyCov.logp`` plus the log-diagonal Jacobian reduce to::

        norm(eta, D) + sum_i [(2 eta - 1 + D - i) log L_ii
                              - (2 eta - 2 + D) log sd_i + log HalfNormal(sd_i | sigma_i)]

    For ``D = 1`` this is exactly ``HalfNormal(sd | sigma)`` plus the log
    transform's Jacobian ``log sd`` (the 1 x 1 correlation matrix is fixed).
Log-sd half-normal (``diag``, ``spherical``)
    Standard deviations ``s ~ HalfNormal(sigma)``, unconstrained ``log s``
    (PyMC's log transform): ``log HalfNormal(s | sigma) + log s``.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from scipy.special import gammaln

#: ``log`` of the half-normal's normalising factor ``sqrt(2 / pi)``.
HALFNORMAL_CONST = 0.5 * math.log(2.0 / math.pi)

_NOT_PD = "covariances are not positive definite; regularise them (e.g. add reg_covar * I)."


class PackedLayout(NamedTuple):
    """Index arrays of the row-major packed lower triangle of a ``D x D`` matrix.

    ``rows, cols`` (P,) the ``np.tril_indices(D)``; ``tril_flat`` (P,) their
    positions in the flattened matrix; ``diag_packed`` (P,) bool, which packed
    entries are on the diagonal; ``rev`` (D,) ``D - i``. (The diagonal of a
    flattened matrix is the slice ``[:: D + 1]``: a view, cheaper than an index.)
    """

    rows: np.ndarray
    cols: np.ndarray
    tril_flat: np.ndarray
    diag_packed: np.ndarray
    rev: np.ndarray


@functools.cache
def packed_layout(n_features: int) -> PackedLayout:
    """The (cached, read-only) :class:`PackedLayout` for ``D = n_features``.

    Computed once per ``D``, so the per-gradient cost of the numpy blocks does
    not include building index arrays.

    Examples
    --------
    >>> from bayesgmm.covariance._blocks import packed_layout
    >>> packed_layout(2).tril_flat
    array([0, 2, 3])
    """
    d = int(n_features)
    rows, cols = np.tril_indices(d)
    arrays = PackedLayout(rows, cols, rows * d + cols, rows == cols, d - np.arange(d))
    for a in arrays:
        a.setflags(write=False)
    return arrays


def lkj_log_norm(eta: float, n: int) -> float:
    """Log normalising constant of the LKJ(eta) density of ``n x n`` correlation matrices.

    Examples
    --------
    >>> from bayesgmm.covariance._blocks import lkj_log_norm
    >>> lkj_log_norm(1.0, 1)
    0.0
    """
    k = np.arange(1, n)
    return float(
        (n - 1) * gammaln(eta + 0.5 * (n - 1))
        - np.sum(0.5 * k * np.log(np.pi) + gammaln(eta + 0.5 * (n - 1 - k)))
    )


# ----------------------------------------------------------- LKJ-Cholesky block
def lkj_cholesky_pymc(name: str, n_features: int, priors):
    """PyMC form: one ``LKJCholeskyCov`` named ``name``; returns its ``(D, D)`` factor.

    Must be called inside a model context, for ``D >= 2`` (PyMC's LKJ
    distribution needs it; the classes use a half-normal ``sd`` for ``D = 1``).
    """
    import pymc as pm

    d = int(n_features)
    sd_dist = pm.HalfNormal.dist(sigma=priors.sd_sigma, shape=(d,))
    packed = pm.LKJCholeskyCov(name, eta=priors.lkj_eta, n=d, sd_dist=sd_dist, compute_corr=False)
    return pm.math.expand_packed_triangular(d, packed, lower=True)


def lkj_cholesky_constant(n_matrices: int, n_features: int, priors) -> float:
    """Constant of ``n_matrices`` LKJ-Cholesky blocks: LKJ and half-normal normalisers."""
    return n_matrices * (
        lkj_log_norm(priors.lkj_eta, n_features) + float(np.sum(HALFNORMAL_CONST - np.log(priors.sd_sigma)))
    )


def chol_from_packed(u: np.ndarray, n_matrices: int, n_features: int) -> np.ndarray:
    """Lower factors ``(n, D, D)`` from packed rows with log-diagonal (``u`` of size ``n P``)."""
    d = n_features
    lay = packed_layout(d)
    packed = u.reshape(n_matrices, -1)
    L = np.zeros((n_matrices, d * d))
    L[:, lay.tril_flat] = packed
    L[:, :: d + 1] = np.exp(packed[:, lay.diag_packed])
    return L.reshape(n_matrices, d, d)


def packed_from_covariances(cov: np.ndarray) -> np.ndarray:
    """Packed lower Cholesky factors with log-diagonal, flattened, from matrices ``(n, D, D)``.

    Raises
    ------
    ValueError
        If a matrix is not positive definite.
    """
    lay = packed_layout(cov.shape[-1])
    try:
        L = np.linalg.cholesky(cov)
    except np.linalg.LinAlgError:
        raise ValueError(_NOT_PD) from None
    packed = L[:, lay.rows, lay.cols]
    packed[:, lay.diag_packed] = np.log(packed[:, lay.diag_packed])
    return packed.ravel()


def lkj_cholesky_log_prior_and_grad(L: np.ndarray, G: np.ndarray, priors):
    """Numpy form of ``n`` LKJ-Cholesky blocks (without :func:`lkj_cholesky_constant`).

    Parameters
    ----------
    L : ndarray of shape (n, D, D)
        The lower factors (:func:`chol_from_packed`).
    G : ndarray of shape (n, P)
        Gradient of the other terms with respect to the packed entries of
        ``L``; overwritten.
    priors : ResolvedPriors

    Returns
    -------
    lp : float
        Log prior of the unconstrained values with the log-diagonal Jacobian.
    grad : ndarray of shape (n, P)
        ``G`` plus the prior's gradient, by the chain rule with respect to the
        unconstrained values (``G`` itself, updated).
    """
    n, d = L.shape[0], L.shape[-1]
    lay = packed_layout(d)
    eta = priors.lkj_eta
    a = (2.0 * eta - 1.0) + lay.rev  # coefficient of log L_ii
    b = 2.0 * eta - 2.0 + d  # coefficient of -log sd_i
    sig2 = priors.sd_sigma**2
    Lf = L.reshape(n, d * d)
    dg = Lf[:, :: d + 1]
    sd2 = (L * L).sum(axis=-1)  # squared row norms, (n, D)
    lp = float((a * np.log(dg)).sum() - 0.5 * b * np.log(sd2).sum() - 0.5 * (sd2 / sig2).sum())
    G -= (b / sd2 + 1.0 / sig2)[:, lay.rows] * Lf[:, lay.tril_flat]
    G[:, lay.diag_packed] += a / dg
    G[:, lay.diag_packed] *= dg  # chain rule for the log-diagonal
    return lp, G


# ------------------------------------------------------- log-sd half-normal block
def log_sd_log_prior_and_grad(s: np.ndarray, g: np.ndarray, sig2):
    """Numpy form of the log-sd half-normal block (without its constant).

    ``s`` the standard deviations, ``g`` the gradient of the other terms with
    respect to ``log s`` (same shape), ``sig2`` the squared half-normal scales
    (broadcast against ``s``). Returns ``(lp, grad)``: ``sum log HalfNormal(s)
    + log s`` up to the constant, and ``g`` plus its gradient.
    """
    r = s * s / sig2
    return float(np.log(s).sum() - 0.5 * r.sum()), g + 1.0 - r


def log_sd_from_variances(variances: np.ndarray) -> np.ndarray:
    """``log sd`` from variances, flattened; raises ``ValueError`` unless all are > 0."""
    if np.any(variances <= 0):
        raise ValueError("covariances (variances) must be > 0.")
    return 0.5 * np.log(variances).ravel()


def chol_from_sds(sds: np.ndarray, n_components: int, n_features: int) -> np.ndarray:
    """Diagonal factors ``(K, D, D)`` with ``sds`` (broadcast to (K, D)) on the diagonal."""
    d = n_features
    L = np.zeros((n_components, d * d))
    L[:, :: d + 1] = sds
    return L.reshape(n_components, d, d)


# -------------------------------------------------- the compiled density's view
#: Block kind: LKJ-Cholesky factors (see :mod:`bayesgmm.covariance._compiled`).
PACKED_CHOLESKY = 0
#: Block kind: half-normal standard deviations on the log scale.
LOG_SD = 1


class CompiledBlock(NamedTuple):
    """How the compiled density evaluates one covariance type's Bayesian block.

    Attributes
    ----------
    kind : int
        :data:`PACKED_CHOLESKY` or :data:`LOG_SD`.
    n_factors : int
        Number of distinct factors (``K``, or 1 for a factor shared by all components).
    params : ndarray of float64
        The block's constants (see :mod:`bayesgmm.covariance._compiled`).
    diagonal : bool
        The factors are diagonal (the likelihood needs only the diagonal
        second moments).
    """

    kind: int
    n_factors: int
    params: np.ndarray
    diagonal: bool
