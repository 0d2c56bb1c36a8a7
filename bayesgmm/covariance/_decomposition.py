"""M-step solvers of the volume/shape/orientation models (Celeux & Govaert 1995).

Each component covariance is ``Sigma_k = lambda_k D_k A_k D_k^T`` (volume
``lambda_k``, shape ``A_k`` diagonal with ``det A_k = 1``, orientation ``D_k``
orthogonal); mclust's three-letter names say which of the three are Equal
across components, Variable, or the Identity.

Every solver takes the component counts ``nk`` (K,) and the per-component
(regularised) covariances ``S`` (``S_k = W_k / n_k + reg_covar I``, with
``W_k`` the responsibility-weighted scatter matrix about the component mean)
and returns the covariances that minimise the M-step objective

    sum_k n_k [ log det Sigma_k + tr(S_k Sigma_k^{-1}) ]

within the model. ``reg_covar`` thus regularises the scatter before the
constrained fit, so the constraint holds exactly; for VVV, EEE, VVI and VII it
gives scikit-learn's ``W_k / n_k + reg_covar I``.

Closed forms (Celeux & Govaert 1995, Table 1; Browne & McNicholas 2014 for
EVV): EII, VII, EEI, EVI, VVI, EEE, EEV, EVV, VVV. Iterative, as in mclust:
VEI, VEE, VEV (alternating volume and shape/orientation, Celeux & Govaert's
algorithms, warm-started at the previous EM iteration's volumes) and EVE, VVE (common orientation by the majorisation-minimisation
updates of Browne & McNicholas 2014, alternating their two bounds). The
iterations stop when the objective changes by less than ``_TOL`` relative, or
after ``_MAX_ITER`` updates; each update never increases the objective, so
the M-step never decreases the EM bound.
"""

from __future__ import annotations

import numba
import numpy as np

#: Relative change of the M-step objective at which the inner iterations stop
#: (mclust: ``emControl()$tol[2] = sqrt(.Machine$double.eps)``; tighter here).
_TOL = 1e-12
#: Upper bound on the inner iterations of one M-step.
_MAX_ITER = 2000
_TINY = np.finfo(np.float64).tiny


def _geo_mean(v, axis=-1):
    """Geometric mean of positive values along ``axis``."""
    return np.exp(np.mean(np.log(np.maximum(v, _TINY)), axis=axis))


def _logdet_spd(S):
    sign, logdet = np.linalg.slogdet(S)
    return np.where(sign > 0, logdet, -np.inf)


def objective(nk, S, sigma):
    """``sum_k n_k [log det Sigma_k + tr(S_k Sigma_k^{-1})]`` for full matrices (K, D, D)."""
    logdet = _logdet_spd(sigma)
    tr = np.einsum("kij,kji->k", S, np.linalg.inv(sigma))
    return float(np.sum(nk * (logdet + tr)))


def _converged(old, new):
    return abs(old - new) <= _TOL * max(1.0, abs(new))


def volumes_of(covariances, n_components):
    """The volumes ``lambda_k = det(Sigma_k)^{1/D}`` (K,) of covariances, or None.

    ``covariances``: full matrices (K, D, D) or diagonal variances (K, D), e.g.
    the previous EM iteration's; None when they are missing, of another number
    of components, or not positive definite. Starts the alternating solvers of
    VEI, VEE and VEV there (a warm start).
    """
    if covariances is None:
        return None
    c = np.asarray(covariances, dtype=np.float64)
    if c.ndim not in (2, 3) or c.shape[0] != n_components or not np.all(np.isfinite(c)):
        return None
    if c.ndim == 2:
        lam = _geo_mean(c) if np.all(c > 0) else None
    else:
        sign, logdet = np.linalg.slogdet(c)
        lam = np.exp(logdet / c.shape[-1]) if np.all(sign > 0) else None
    if lam is None or not np.all(np.isfinite(lam) & (lam > 0)):
        return None
    return lam


def _start_volumes(start, cold):
    """``start`` (warm volumes) where given and of the right shape, else ``cold``."""
    if start is not None and np.shape(start) == np.shape(cold):
        return np.maximum(np.asarray(start, dtype=np.float64), _TINY)
    return cold


# ------------------------------------------------------------ diagonal models
def diag_equal_volume_variable_shape(nk, s):
    """EVI: ``Sigma_k = lambda B_k``, ``B_k`` diagonal, ``det B_k = 1``. ``s`` (K, D) variances."""
    g = _geo_mean(s)  # det(diag S_k)^{1/D}
    lam = np.sum(nk * g) / np.sum(nk)
    return lam * s / g[:, None]


def diag_equal_shape(nk, s, equal_volume, start=None):
    """EEI (``equal_volume``) or VEI: ``Sigma_k = lambda_k B``, ``B`` diagonal, ``det B = 1``.

    EEI is closed form (the pooled diagonal); VEI alternates
    ``B ~ sum_k n_k diag(S_k) / lambda_k`` and ``lambda_k = tr(S_k B^{-1}) / D``,
    from the volumes ``start`` (K,) where given (the previous EM iteration's:
    :func:`volumes_of`), else from ``lambda_k = tr(S_k) / D``. The objective is
    convex in the log volumes and log shape, so both starts reach one minimum.
    """
    n = np.sum(nk)
    if equal_volume:
        pooled = nk @ s / n
        return np.broadcast_to(pooled, s.shape).copy()
    d = s.shape[1]
    lam = _start_volumes(start, np.mean(s, axis=1))
    prev = np.inf
    for _ in range(_MAX_ITER):
        b = (nk / lam) @ s
        b = b / _geo_mean(b)
        lam = np.maximum((s / b).sum(axis=1) / d, _TINY)
        # objective: sum_k n_k [D log lam_k + tr(S_k B^-1)/lam_k] = sum_k n_k D (log lam_k + 1)
        obj = float(np.sum(nk * d * (np.log(lam) + 1.0)))
        if _converged(prev, obj):
            break
        prev = obj
    return lam[:, None] * b[None, :]


# ------------------------------------------------------------ general matrices
def equal_shape_orientation(nk, S, start=None):
    """VEE: ``Sigma_k = lambda_k C``, ``det C = 1``; alternates ``C`` and ``lambda_k``.

    The iterations start at the volumes ``start`` (K,) where given (the previous
    EM iteration's: :func:`volumes_of`), else at ``lambda_k = tr(S_k) / D``.
    """
    d = S.shape[-1]
    lam = _start_volumes(start, np.trace(S, axis1=1, axis2=2) / d)
    prev = np.inf
    for _ in range(_MAX_ITER):
        C = np.einsum("k,kij->ij", nk / lam, S)
        C = 0.5 * (C + C.T)
        C = C / np.exp(_logdet_spd(C[None])[0] / d)
        Cinv = np.linalg.inv(C)
        lam = np.maximum(np.einsum("kij,ji->k", S, Cinv) / d, _TINY)
        obj = float(np.sum(nk * d * (np.log(lam) + 1.0)))
        if _converged(prev, obj):
            break
        prev = obj
    return lam[:, None, None] * C[None]


def _sorted_eigh(S):
    """Eigenvalues in decreasing order and their eigenvectors (columns)."""
    w, v = np.linalg.eigh(S)
    return np.maximum(w[..., ::-1], 0.0), v[..., ::-1]


def variable_orientation_equal_shape(nk, S, equal_volume, start=None):
    """EEV (``equal_volume``, closed form) or VEV (iterative): ``Sigma_k = lambda_k D_k A D_k^T``.

    ``D_k`` are the eigenvectors of ``S_k`` with the eigenvalues ``omega_k``
    in decreasing order, matched with the shape's in decreasing order. EEV:
    ``A ~ sum_k n_k omega_k``, ``lambda = det(sum_k n_k omega_k)^{1/D} / n``.
    VEV alternates ``A ~ sum_k n_k omega_k / lambda_k`` and
    ``lambda_k = sum_j omega_kj / a_j / D``, from the volumes ``start`` (K,)
    where given (the previous EM iteration's: :func:`volumes_of`), else from
    ``lambda_k = tr(S_k) / D``; the objective is convex in the log volumes and
    log shape, so both starts reach one minimum.
    """
    d = S.shape[-1]
    n = np.sum(nk)
    omega, vec = _sorted_eigh(S)
    if equal_volume:
        pooled = nk @ omega
        g = _geo_mean(pooled)
        a = pooled / g
        lam = np.full(len(nk), g / n)
    else:
        lam = _start_volumes(start, np.maximum(omega.mean(axis=1), _TINY))
        prev = np.inf
        for _ in range(_MAX_ITER):
            a = (nk / lam) @ omega
            a = a / _geo_mean(a)
            lam = np.maximum((omega / a).sum(axis=1) / d, _TINY)
            obj = float(np.sum(nk * d * (np.log(lam) + 1.0)))
            if _converged(prev, obj):
                break
            prev = obj
    return np.einsum("kij,kj,klj->kil", vec, lam[:, None] * a[None, :], vec)


def equal_volume_variable_shape_orientation(nk, S):
    """EVV: ``Sigma_k = lambda C_k``, ``det C_k = 1`` (closed form, Browne & McNicholas 2014)."""
    d = S.shape[-1]
    g = np.exp(_logdet_spd(S) / d)  # det(S_k)^{1/D}
    lam = np.sum(nk * g) / np.sum(nk)
    return (lam / np.maximum(g, _TINY))[:, None, None] * S


def _polar(G):
    """The orthogonal factor ``U V^T`` of ``G = U s V^T``: argmax over orthogonal ``Q`` of ``tr(G^T Q)``."""
    u, _, vt = np.linalg.svd(G)
    return u @ vt


def orientation_of(covariances):
    """A common orientation of covariances (K, D, D) sharing their eigenvectors, or None.

    The eigenvectors of a weighted sum with distinct weights (so that equal
    eigenvalues of one component do not leave them undetermined).
    """
    if covariances is None:
        return None
    c = np.asarray(covariances, dtype=np.float64)
    if c.ndim != 3 or not np.all(np.isfinite(c)):
        return None
    scale = np.trace(c, axis1=1, axis2=2)
    if np.any(scale <= 0):
        return None
    w = (1.0 + np.arange(len(c)) / len(c)) / scale
    return np.linalg.eigh(np.einsum("k,kij->ij", w, c))[1]


def common_orientation(nk, S, equal_volume, start=None):
    """EVE (``equal_volume``) or VVE: ``Sigma_k = lambda_k D A_k D^T`` with one orientation ``D``.

    Given ``D``, ``T_k = diag(D^T S_k D)``: ``A_k = T_k / det(T_k)^{1/D}``;
    VVE ``lambda_k = det(T_k)^{1/D}``, EVE ``lambda = sum_k n_k det(T_k)^{1/D} / n``.
    Given the rest, ``D`` minimises ``f(D) = sum_k n_k tr(S_k D M_k D^T)``,
    ``M_k = (lambda_k A_k)^{-1}``, over orthogonal matrices; the two
    majorisations of Browne & McNicholas (2014), alternated, each give
    ``D = polar(G)``: ``G = sum_k n_k (alpha_k I - S_k) D_old M_k`` with
    ``alpha_k`` the largest eigenvalue of ``S_k``, and
    ``G = sum_k n_k S_k D_old (m_k I - M_k)`` with ``m_k`` the largest entry
    of ``M_k``. ``D`` starts at ``start`` (an orthogonal matrix, e.g. the previous
    EM iteration's orientation: then the result is never worse than there), or
    else at the eigenvectors of the pooled ``sum_k n_k S_k``.

    The iterations are one compiled loop (:func:`_common_orientation_loop`,
    numba): the updates converge linearly, often over hundreds of inner
    iterations per M-step, and numpy's per-call overhead on these small
    matrices made them most of an EVE/VVE fit's time (banknote, VVE, G = 7:
    97 % of 586 s). :func:`_common_orientation_numpy` is the same loop in
    numpy, kept as the tested reference.
    """
    D, alpha = _orientation_start(nk, S, start)
    D, LA, lam = _common_orientation_loop(
        np.ascontiguousarray(nk, dtype=np.float64), np.ascontiguousarray(S, dtype=np.float64),
        np.ascontiguousarray(D), np.ascontiguousarray(alpha, dtype=np.float64),
        bool(equal_volume), _TOL, _MAX_ITER, _TINY,
    )
    A = LA / lam[:, None]
    return np.einsum("ij,kj,lj->kil", D, lam[:, None] * A, D)


def _orientation_start(nk, S, start):
    """The common-orientation iterations' start: ``start`` (an orthogonal (D, D)
    matrix) or the eigenvectors of the pooled ``sum_k n_k S_k``; and each
    component's largest eigenvalue ``alpha_k`` (K,), the first majorisation's
    constant."""
    d = S.shape[-1]
    if start is not None and start.shape == (d, d):
        D = np.array(start, dtype=np.float64)
    else:
        _, D = _sorted_eigh(np.einsum("k,kij->ij", nk, S))
    return D, np.linalg.eigvalsh(S)[:, -1]


@numba.njit(cache=True, error_model="numpy")
def _common_orientation_loop(nk, S, D0, alpha, equal_volume, tol, max_iter, tiny):  # pragma: no cover
    # :func:`_common_orientation_numpy`'s iterations, element by element;
    # returns the orientation, lambda_k A_k (K, D) and lambda_k (K,)
    K, d, _ = S.shape
    n = 0.0
    for k in range(K):
        n += nk[k]
    D = D0.copy()
    SD = np.empty((K, d, d))
    T = np.empty((K, d))
    g = np.empty(K)
    lam = np.empty(K)
    LA = np.empty((K, d))
    M = np.empty((K, d))
    G = np.empty((d, d))
    prev = np.inf
    for it in range(max_iter + 1):
        for k in range(K):
            for i in range(d):
                for col in range(d):
                    t = 0.0
                    for j in range(d):
                        t += S[k, i, j] * D[j, col]
                    SD[k, i, col] = t
            logsum = 0.0
            for col in range(d):
                t = 0.0
                for j in range(d):
                    t += SD[k, j, col] * D[j, col]
                if not (t > tiny or np.isnan(t)):  # np.maximum(t, tiny), NaN kept
                    t = tiny
                T[k, col] = t
                logsum += np.log(t)
            g[k] = np.exp(logsum / d)
        if equal_volume:
            pooled = 0.0
            for k in range(K):
                pooled += nk[k] * g[k]
            for k in range(K):
                lam[k] = pooled / n
        else:
            for k in range(K):
                lam[k] = g[k]
        for k in range(K):
            for col in range(d):
                LA[k, col] = lam[k] * T[k, col] / g[k]
        if it % 2 == 0:  # after one step of each bound: the objective of the pair
            obj = 0.0
            for k in range(K):
                tr = 0.0
                for col in range(d):
                    tr += T[k, col] / LA[k, col]
                obj += nk[k] * (d * np.log(lam[k]) + tr)
            if abs(prev - obj) <= tol * max(1.0, abs(obj)) or it == max_iter:
                break
            prev = obj
        for k in range(K):
            for col in range(d):
                M[k, col] = nk[k] / LA[k, col]
        for i in range(d):
            for col in range(d):
                G[i, col] = 0.0
        if it % 2 == 0:
            for k in range(K):
                for i in range(d):
                    for col in range(d):
                        G[i, col] += (alpha[k] * D[i, col] - SD[k, i, col]) * M[k, col]
        else:
            for k in range(K):
                mk = M[k, 0]
                for col in range(1, d):
                    mk = max(mk, M[k, col])
                for i in range(d):
                    for col in range(d):
                        G[i, col] += SD[k, i, col] * (mk - M[k, col])
        u, _, vt = np.linalg.svd(G)
        for i in range(d):
            for col in range(d):
                t = 0.0
                for j in range(d):
                    t += u[i, j] * vt[j, col]
                D[i, col] = t
    return D, LA, lam


def _common_orientation_numpy(nk, S, equal_volume, start=None):
    """:func:`common_orientation` in numpy (the reference of the compiled loop)."""
    K, d, _ = S.shape
    n = np.sum(nk)
    D, alpha = _orientation_start(nk, S, start)
    alpha = alpha[:, None, None]  # (K, 1, 1)
    prev = np.inf
    for it in range(_MAX_ITER + 1):
        SD = S @ D
        T = np.maximum(np.einsum("kjl,jl->kl", SD, D), _TINY)  # diag(D^T S_k D)
        g = np.exp(np.log(T).mean(axis=1))  # det(T_k)^{1/D}
        lam = np.full(K, nk @ g / n) if equal_volume else g
        LA = lam[:, None] * T / g[:, None]  # lambda_k A_k
        if it % 2 == 0:  # after one step of each bound: the objective of the pair
            obj = float(nk @ (d * np.log(lam) + np.sum(T / LA, axis=1)))
            if _converged(prev, obj) or it == _MAX_ITER:
                break
            prev = obj
        M = nk[:, None] / LA  # (K, D): n_k times the diagonal of M_k
        if it % 2 == 0:
            G = np.einsum("kil,kl->il", alpha * D - SD, M)
        else:
            G = np.einsum("kil,kl->il", SD, M.max(axis=1)[:, None] - M)
        D = _polar(G)
    A = LA / lam[:, None]
    return np.einsum("ij,kj,lj->kil", D, lam[:, None] * A, D)
