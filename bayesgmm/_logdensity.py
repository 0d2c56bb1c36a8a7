"""Fast log posterior density of the Gaussian mixture with an analytic gradient.

:class:`MixtureDensity` evaluates *exactly* the posterior of
:func:`bayesgmm.model.build_model` (same priors, same normalising constants, same
unconstrained parametrisation and Jacobians as PyMC's default transforms), in
numpy, with a hand-derived gradient.  It is the engine behind the default
``nutpie`` sampler and the minibatch ADVI: no compilation, and per gradient a
handful of BLAS calls over all observations and components at once.

Unconstrained vector layout (the order of PyMC's ``model.value_vars``):

``weights_simplex__`` (K-1)
    PyMC's simplex transform: ``w = softmax([z, -sum(z)])``.  Dirichlet(alpha)
    plus its log-Jacobian is ``const + sum_k alpha_k log w_k``.
``means`` (K*D)
    untransformed.
covariance parameters
    the covariance type's block: its names, shapes, transform to the
    Cholesky factors ``L_k`` of the covariances, and its log prior with
    gradient are the Bayesian section of its
    :class:`~bayesgmm.covariance.CovarianceModel` subclass (the prior of each
    type is documented at its ``pymc_prior`` method).

Likelihood: with ``A_k = L_k^{-1}`` and ``y_nk = A_k (x_n - mu_k)``,
``log N = -D/2 log(2 pi) - sum log diag(L_k) - |y_nk|^2 / 2``.  With the
responsibilities ``r_nk``, ``R_k = sum_n r_nk`` and
``M_k = sum_n r_nk y_nk y_nk^T``::

    d/d mu_k     = A_k^T sum_n r_nk y_nk
    d/d L_k      = tril(A_k^T M_k) - R_k diag(1 / L_k,ii)
    d/d log w_k  = R_k

and the covariance class carries ``d/d L_k`` through its transform
(:meth:`~bayesgmm.covariance.CovarianceModel.log_prior_and_grad`).

Uniform noise component (``noise_hypervolume=V``, Banfield & Raftery 1993): one
more weight ``w_0`` in the Dirichlet (``K + 1`` weights, the noise weight last,
prior ``alpha_0`` = the mean of the components' ``alpha``) and a constant density
``1 / V``: ``log p(x) = log(w_0 / V + sum_k w_k N(x | mu_k, Sigma_k))``.  In the
expanded path the noise is one more row of the quadratic-form coefficients with
only the constant ``log w_0 - log V``; its responsibility sum ``R_0`` enters the
weights' gradient as ``d/d log w_0 = R_0``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import gammaln

from bayesgmm import _kernels
from bayesgmm.covariance import FULL_MATRICES, get_covariance_type
from bayesgmm.em._noise import check_hypervolume
from bayesgmm.priors import coerce_priors

__all__ = ["MixtureDensity"]

_LOG_2PI = float(np.log(2.0 * np.pi))


def _normalise(lp) -> float:
    """In place: weighted log-densities ``lp`` (K, n) -> responsibilities; returns
    the summed log-likelihood ``sum_n log sum_k exp(lp[k, n])``."""
    m = lp.max(axis=0)
    lp -= m
    np.exp(lp, out=lp)
    s = lp.sum(axis=0)
    lp /= s
    return float(np.log(s).sum() + m.sum())


def _batch_stats(Q, ZT, n):
    """Per-point log-likelihoods and responsibility moments of ``n`` stacked points.

    ``Q`` (n K, F) the quadratic-form coefficients of every point's components,
    ``ZT`` (F, m) a chunk of the transposed design. Returns ``ll`` (n,) and
    ``W = ZT @ r^T`` (F, n K).
    """
    lp3 = (Q @ ZT).reshape(n, Q.shape[0] // n, -1)  # (n, K, m)
    m = lp3.max(axis=1)
    lp3 -= m[:, None, :]
    np.exp(lp3, out=lp3)
    s = lp3.sum(axis=1)
    lp3 /= s[:, None, :]
    ll = np.log(s).sum(axis=1) + m.sum(axis=1)
    return ll, ZT @ lp3.reshape(Q.shape[0], -1).T


def _expansion_error(Q, Pmu, mu_s, A) -> float:
    """Estimated rounding error (nats) of :class:`MixtureDensity`'s expanded log-densities.

    As :func:`bayesgmm._kernels._expansion_error`: the offset terms
    ``|Lambda_k mu_k| . |mu_k|`` and the constant ``|Q_k0|`` that cancel near
    each component's mean (means relative to the data's mean), and ``D``
    times the cancellation of the quadratic form by correlations,
    ``max_i |P_i|^2 / P_ii^2`` over the rows of the precision factor
    ``P = A^T``; times ``eps``.
    """
    # on the sampler's hot path: few numpy calls (K, D are small)
    K, D = mu_s.shape
    diag2 = A.reshape(K, D * D)[:, :: D + 1] ** 2
    conditioning = ((A * A).sum(axis=1) / diag2).max(axis=1)  # column norms of A = row norms of P
    c = Q[:, -1]
    size = np.abs(Pmu * mu_s).sum(axis=1)
    size += np.abs(c)
    size += D * conditioning
    finite = np.isfinite(c)
    m = size.max() if finite.all() else np.max(size, initial=0.0, where=finite)
    return _kernels._EPS * float(m)


class MixtureDensity:
    """Log posterior density and gradient of the Bayesian Gaussian mixture.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data (validated and copied to float64).
    n_components : int
        Number of components ``K``.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    priors : Priors, ResolvedPriors, dict or None
        Coerced by :func:`~bayesgmm.priors.coerce_priors`: ``None`` is the
        default :class:`~bayesgmm.priors.Priors`, a :class:`Priors` is
        resolved against ``X``, a ``ResolvedPriors`` must match ``K`` and ``D``.
    chunk_size : int, default=16384
        Rows per block in the likelihood, to bound temporaries.
    max_design_bytes : int, default=2**29
        The centred data and their pairwise products (``N * (D(D+1)/2 + D + 1)``
        floats) are precomputed when they fit in this many bytes, else rebuilt
        chunk by chunk at every evaluation.
    noise_hypervolume : float, optional
        Adds mclust's uniform noise component of density ``1 / noise_hypervolume``
        and its weight (the last of ``K + 1`` Dirichlet weights; see the module
        docstring).  :func:`bayesgmm.model.build_model` takes the same argument.

    Attributes
    ----------
    ndim : int
        Length of the unconstrained parameter vector.
    names, shapes : list
        Names and shapes of the blocks of the vector (PyMC's value variables).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm._logdensity import MixtureDensity
    >>> X = np.random.default_rng(0).normal(size=(100, 2))
    >>> dens = MixtureDensity(X, 2, "full")
    >>> x = dens.pack(np.array([0.5, 0.5]), np.array([[-1.0, 0], [1, 0]]), np.stack([np.eye(2)] * 2))
    >>> lp, grad = dens.logp_and_grad(x)
    >>> grad.shape == (dens.ndim,)
    True
    >>> dens.unpack(x)["covariances"].shape
    (2, 2, 2)
    """

    def __init__(self, X, n_components, covariance_type="full", priors=None, *, chunk_size=16384,
                 max_design_bytes=2**29, noise_hypervolume=None):
        from bayesgmm._data import prepare_data
        from bayesgmm.model import _check_n_components

        self._cov = get_covariance_type(covariance_type)
        self.covariance_type = self._cov.name
        K = self.n_components = _check_n_components(n_components)
        arr, _, features = prepare_data(X)
        self.X = np.ascontiguousarray(arr)
        self.feature_names = features
        N, D = self.X.shape
        self.n_features = D
        priors = coerce_priors(priors, self.X, K)
        if not (isinstance(chunk_size, (int, np.integer)) and chunk_size >= 1):
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}.")
        self.chunk_size = int(chunk_size)
        self._P = D * (D + 1) // 2
        self._tril = np.tril_indices(D)
        # centred data and their pairwise products, transposed: (P + D + 1, N)
        self._shift = self.X.mean(axis=0)
        self._ZT = self._design(self.X) if (self._P + D + 1) * N * 8 <= max_design_bytes else None
        self.priors = priors
        # Tq: (D*D, P) maps a flattened symmetric precision to the quadratic-form
        # coefficients of [x_i x_j (i >= j)]; Ts: (P, D*D) scatters the packed
        # second moments back into a symmetric matrix.
        self._Tq = np.zeros((D * D, self._P))
        self._Ts = np.zeros((self._P, D * D))
        for p, (a, b) in enumerate(zip(*self._tril)):
            self._Tq[a * D + b, p] = -0.5
            self._Tq[b * D + a, p] = -0.5
            self._Ts[p, a * D + b] = 1.0
            self._Ts[p, b * D + a] = 1.0

        self.noise_hypervolume = None
        self._log_v = None
        if noise_hypervolume is not None:
            self.noise_hypervolume = check_hypervolume(noise_hypervolume)
            self._log_v = float(np.log(self.noise_hypervolume))
        # the weights: K, or K + 1 with the noise weight last
        W = self._n_w = K + (self._log_v is not None)
        a = priors.weights_alpha
        self._alpha = np.append(a, a.mean()) if W > K else a
        # with the noise, the K + 1 weights are build_model's "mixing_weights"
        wname = "mixing_weights_simplex__" if W > K else "weights_simplex__"
        blocks = [(wname, (W - 1,)), ("means", (K, D)), *self._cov.unconstrained_blocks(K, D)]
        self.names = [name for name, _ in blocks]
        self.shapes = [shape for _, shape in blocks]
        self.ndim = W - 1 + K * D + self._cov.n_unconstrained(K, D)
        self._i_w = slice(0, W - 1)
        self._i_mu = slice(W - 1, W - 1 + K * D)
        self._i_cov = slice(W - 1 + K * D, self.ndim)

        # constants of the prior
        a = self._alpha
        self._const = float(gammaln(a.sum()) - gammaln(a).sum() + np.log(W))
        self._const += float(np.sum(-0.5 * _LOG_2PI - np.log(priors.mean_sd)) * K)
        self._const += self._cov.log_prior_constant(K, D, priors)

    # ------------------------------------------------------------ parameters
    def _check_x(self, x):
        x = np.asarray(x, dtype=float)
        if x.shape != (self.ndim,):
            raise ValueError(
                f"x must be a 1-d array of length ndim={self.ndim} (the unconstrained parameters), "
                f"got shape {x.shape}; build it with pack()."
            )
        return x

    def _weights(self, z):
        v = np.append(z, -z.sum())
        v = v - v.max()
        logw = v - np.log(np.exp(v).sum())
        return logw, np.exp(logw)

    def unpack(self, x) -> dict:
        """Constrained parameters in the contract's shapes.

        Returns
        -------
        dict
            ``weights`` (K,), ``means`` (K, D), ``covariances`` (K, D, D),
            ``sds`` (K, D), and ``correlations`` (K, D, D) for the types
            with correlations (full/tied);
            ``chol`` (K, D, D) the lower Cholesky factors.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> d = MixtureDensity(np.random.default_rng(1).normal(size=(20, 2)), 3, "spherical")
        >>> d.unpack(np.zeros(d.ndim))["weights"]
        array([0.33333333, 0.33333333, 0.33333333])
        """
        x = self._check_x(x)
        K, D = self.n_components, self.n_features
        _, w = self._weights(x[self._i_w])
        mu = x[self._i_mu].reshape(K, D).copy()
        L = self._cov.chol_from_unconstrained(x[self._i_cov], K, D)
        cov = L @ np.swapaxes(L, -1, -2)
        sds = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1)).copy()
        out = {"weights": w[:K], "means": mu, "covariances": cov, "sds": sds, "chol": np.array(L)}
        if self._n_w > K:  # the Gaussians' weights sum to 1 - noise_weight
            out["noise_weight"] = np.array(w[K])  # 0-d: a (chain, draw) variable
        if self._cov.has_correlations:
            out["correlations"] = cov / (sds[:, :, None] * sds[:, None, :])
        return out

    def pack(self, weights, means, covariances, noise_weight=None) -> np.ndarray:
        """Unconstrained vector from constrained parameters (scikit-learn layout).

        Parameters
        ----------
        weights : array of shape (K,)
            Mixing weights (zeros are clipped to 1e-12 and renormalised).
        means : array of shape (K, D)
        covariances : array
            scikit-learn layout: full (K, D, D), tied (D, D), diag (K, D),
            spherical (K,).  A (K, D, D) stack is also accepted for every type
            (see :meth:`~bayesgmm.covariance.CovarianceModel.unconstrained_from_covariances`).
        noise_weight : float, optional
            With the noise component: its weight (default ``1 - sum(weights)``,
            so an EM fit's ``weights_`` and ``noise_weight_`` pack as they are).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> d = MixtureDensity(np.random.default_rng(1).normal(size=(20, 2)), 2, "diag")
        >>> x = d.pack([0.3, 0.7], [[0, 0], [1, 1]], [[1.0, 4.0], [0.25, 1.0]])
        >>> d.unpack(x)["sds"]
        array([[1. , 2. ],
               [0.5, 1. ]])
        """
        K, D = self.n_components, self.n_features
        w = np.asarray(weights, dtype=float).reshape(-1)
        if w.shape != (K,) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be {K} finite non-negative numbers, got {np.asarray(weights)!r}.")
        if self._n_w > K:
            w0 = 1.0 - w.sum() if noise_weight is None else float(noise_weight)
            w = np.append(w, w0)
        w = np.clip(w, 1e-12, None)
        w = w / w.sum()
        logw = np.log(w)
        z = (logw - logw.mean())[:-1]
        mu = np.asarray(means, dtype=float)
        if mu.shape != (K, D):
            raise ValueError(f"means must have shape ({K}, {D}), got {mu.shape}.")
        u = self._cov.unconstrained_from_covariances(covariances, K, D)
        return np.concatenate([z, mu.ravel(), u])

    # ---------------------------------------------------------------- density
    def _design_chunks(self, X):
        """Yield the transposed design ``[x_i x_j (i >= j); x; 1]`` in column chunks."""
        if X is None and self._ZT is not None:
            for start in range(0, self._ZT.shape[1], self.chunk_size):
                yield self._ZT[:, start : start + self.chunk_size]
            return
        X = self.X if X is None else np.asarray(X, dtype=float)
        for start in range(0, X.shape[0], self.chunk_size):
            yield self._design(X[start : start + self.chunk_size])

    def _design(self, X):
        Xs = (X - self._shift).T  # (D, n), centred
        i, j = self._tril
        P, D = self._P, self.n_features
        ZT = np.empty((P + D + 1, Xs.shape[1]))
        np.multiply(Xs[i], Xs[j], out=ZT[:P])
        ZT[P : P + D] = Xs
        ZT[-1] = 1.0
        return ZT

    def _loglik_stats(self, X, logw, mu, L):
        """Log-likelihood summed over rows and the whitened sufficient statistics.

        Quadratic forms via one ``(K, P+D+1) @ (P+D+1, n)`` product against
        the precomputed design of centred data and its pairwise products, the
        responsibilities' moments via one more product; then
        ``S1_k = A_k sum_n r_nk (x_n - mu_k)`` and
        ``M_k = A_k [sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T] A_k^T``.
        """
        K, D, P = self.n_components, self.n_features, self._P
        A = self._cov.inverse_cholesky(L)
        Prec = np.matmul(np.swapaxes(A, -1, -2), A)  # precision matrices
        mu_s = mu - self._shift
        Pmu = np.matmul(Prec, mu_s[:, :, None])[:, :, 0]
        logdet = np.log(L.reshape(K, D * D)[:, :: D + 1]).sum(-1)  # [:: D + 1]: the diagonal
        Q = np.empty((K, P + D + 1))
        np.matmul(Prec.reshape(K, D * D), self._Tq, out=Q[:, :P])
        Q[:, P : P + D] = Pmu
        Q[:, -1] = logw[:K] - logdet - 0.5 * D * _LOG_2PI - 0.5 * np.sum(mu_s * Pmu, axis=-1)
        if _expansion_error(Q, Pmu, mu_s, A) > _kernels.EXPANSION_TOLERANCE:
            return self._loglik_stats_centred(X, logw, mu, A, Prec, logdet)
        if self._n_w > K:  # the noise: a constant row, log w_0 - log V
            Q = np.vstack([Q, np.zeros(P + D + 1)])
            Q[K, -1] = logw[K] - self._log_v
        total = 0.0
        W = None
        for ZT in self._design_chunks(X):
            lp = Q @ ZT  # (K, n)
            total += _normalise(lp)
            W = ZT @ lp.T if W is None else W + ZT @ lp.T
        R = W[-1]  # (K,), or (K + 1,) with the noise's last
        W = W[:, :K]
        W1 = W[P : P + D].T  # sum_n r_nk x_n (centred), (K, D)
        S2 = (W[:P].T @ self._Ts).reshape(K, D, D)  # sum_n r_nk x_n x_n^T
        d1 = W1 - R[:K, None] * mu_s  # sum_n r_nk (x_n - mu_k)
        # C = sum_n r_nk (x_n - mu_k)(x_n - mu_k)^T
        C = S2 - d1[:, :, None] * mu_s[:, None, :] - mu_s[:, :, None] * W1[:, None, :]
        return total, A, Prec, R, d1, C

    def _loglik_stats_centred(self, X, logw, mu, A, Prec, logdet):
        """:meth:`_loglik_stats` on rows centred on each component's mean and whitened.

        The accurate path where the one-product expansion would lose more than
        :data:`bayesgmm._kernels.EXPANSION_TOLERANCE` nats (tight components far
        from the data's mean, or nearly singular ones; see
        :func:`_expansion_error`): ``y = A_k (x - mu_k)``, and the statistics
        ``d1``, ``C`` summed directly from ``x - mu_k``. ``K`` passes per chunk.
        """
        K, D = self.n_components, self.n_features
        c = logw[:K] - logdet - 0.5 * D * _LOG_2PI
        Xe = self.X if X is None else np.asarray(X, dtype=float)
        total = 0.0
        W = self._n_w
        R, d1, C = np.zeros(W), np.zeros((K, D)), np.zeros((K, D, D))
        for start in range(0, Xe.shape[0], self.chunk_size):
            Xc = Xe[start : start + self.chunk_size]
            xs = [Xc - mu[k] for k in range(K)]
            lp = np.empty((W, Xc.shape[0]))
            for k in range(K):
                y = xs[k] @ A[k].T
                lp[k] = c[k] - 0.5 * np.einsum("nd,nd->n", y, y)
            if W > K:
                lp[K] = logw[K] - self._log_v
            total += _normalise(lp)
            if W > K:
                R[K] += lp[K].sum()
            for k in range(K):
                R[k] += lp[k].sum()
                d1[k] += lp[k] @ xs[k]
                C[k] += (xs[k] * lp[k][:, None]).T @ xs[k]
        return total, A, Prec, R, d1, C

    def logp_and_grad(self, x, X=None, scale=1.0):
        """Log posterior density (with Jacobian) and its gradient at ``x``.

        Parameters
        ----------
        x : ndarray of shape (ndim,)
            Unconstrained parameters.
        X : ndarray of shape (n, D), optional
            Data to evaluate the likelihood on instead of the stored data
            (e.g. a minibatch; it is not validated).
        scale : float, default=1.0
            Multiplies the log-likelihood and its gradient (``N / n`` for an
            unbiased minibatch estimate).

        Returns
        -------
        logp : float
            Equal to PyMC's ``model.compile_logp()`` of :func:`build_model`
            (``-inf`` outside the numerically valid region).
        grad : ndarray of shape (ndim,)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> d = MixtureDensity(np.random.default_rng(1).normal(size=(30, 1)), 1, "full")
        >>> lp, g = d.logp_and_grad(np.zeros(d.ndim))
        >>> bool(np.isfinite(lp)), g.shape
        (True, (2,))
        """
        x = self._check_x(x)
        with np.errstate(all="ignore"):
            try:
                lp, g = self._logp_and_grad(x, X, float(scale))
            except np.linalg.LinAlgError:
                return -np.inf, np.zeros(self.ndim)
        if not np.isfinite(lp) or not np.all(np.isfinite(g)):
            return -np.inf, np.zeros(self.ndim)
        return lp, g

    def logp(self, x) -> float:
        """Log posterior density only (see :meth:`logp_and_grad`)."""
        return self.logp_and_grad(x)[0]

    def logp_and_grad_batch(self, xs, scales=1.0, *, with_logp=True):
        """Tempered log densities, gradients and log-likelihoods of a batch of points.

        The density of point ``r`` is ``log prior(x_r) + scales[r] * loglik(x_r)``
        (with the Jacobian; ``scales = 1`` is :meth:`logp_and_grad`): the
        likelihood-tempered targets of replica exchange. All points are
        evaluated together, one matrix product over the ``R * K``
        components, so a batch costs little more than one point.

        Parameters
        ----------
        xs : ndarray of shape (R, ndim)
            Unconstrained points.
        scales : float or ndarray of shape (R,), default=1.0
            Inverse temperatures (multipliers of the log-likelihood), >= 0.
        with_logp : bool, default=True
            Also compute the log densities (a loop over the points for the
            covariance prior); with False ``logp`` is NaN where finite
            (gradients only, e.g. inside a leapfrog trajectory).

        Returns
        -------
        logp : ndarray of shape (R,)
            ``-inf`` outside the numerically valid region (as :meth:`logp_and_grad`).
        grad : ndarray of shape (R, ndim)
            Zeros where ``logp`` is ``-inf``.
        loglik : ndarray of shape (R,)
            Untempered log-likelihood ``sum_n log p(x_n | theta_r)`` (``-inf``
            where invalid).

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> d = MixtureDensity(np.random.default_rng(1).normal(size=(30, 1)), 2, "full")
        >>> xs = np.zeros((3, d.ndim))
        >>> lp, g, ll = d.logp_and_grad_batch(xs, [1.0, 0.5, 0.0])
        >>> bool(np.isclose(lp[0], d.logp(xs[0]))), bool(np.isclose(lp[0] - lp[2], ll[0]))
        (True, True)
        """
        xs = np.asarray(xs, dtype=float)
        if xs.ndim != 2 or xs.shape[1] != self.ndim:
            raise ValueError(f"xs must have shape (R, ndim={self.ndim}), got {xs.shape}.")
        n = xs.shape[0]
        scales = np.broadcast_to(np.asarray(scales, dtype=float), (n,)).copy()
        lp = np.full(n, -np.inf)
        grad = np.zeros((n, self.ndim))
        ll = np.full(n, -np.inf)
        with np.errstate(all="ignore"):
            try:
                if self._n_w > self.n_components:  # the noise: one point at a time
                    raise np.linalg.LinAlgError
                lp, grad, ll = self._batch(xs, scales, with_logp)
            except np.linalg.LinAlgError:  # a singular factor somewhere: one point at a time
                for r in range(n):
                    try:
                        lp[r], grad[r], ll[r] = self._logp_and_grad_ll(xs[r], None, scales[r])
                    except np.linalg.LinAlgError:
                        lp[r] = -np.inf
                if not with_logp:
                    lp[np.isfinite(lp)] = np.nan
        bad = ~(np.isfinite(ll) & np.all(np.isfinite(grad), axis=1) & ~np.isinf(lp))
        lp[bad], ll[bad], grad[bad] = -np.inf, -np.inf, 0.0
        return lp, grad, ll

    def _batch_components(self) -> bool:
        """Whether the covariance block is component-major (``R`` points = ``R K`` components).

        Checked once on random values, not by type name: the Cholesky factors
        of two stacked points must equal those of each point.
        """
        if not hasattr(self, "_batchable"):
            K, D = self.n_components, self.n_features
            n = self._cov.n_unconstrained(K, D)
            ok = n == K * self._cov.n_unconstrained(1, D) and n > 0
            if ok:
                u = np.random.default_rng(0).normal(scale=0.3, size=(2, n))
                try:
                    Lb = self._cov.chol_from_unconstrained(u.ravel(), 2 * K, D).reshape(2, K, D, D)
                    ok = all(np.allclose(Lb[r], self._cov.chol_from_unconstrained(u[r], K, D)) for r in range(2))
                except (ValueError, TypeError):
                    ok = False
            self._batchable = bool(ok)
        return self._batchable

    def _batch(self, xs, scales, with_logp):
        """:meth:`logp_and_grad_batch` by one product over all points' components.

        Points whose expanded log-densities would lose accuracy
        (:func:`_expansion_error`) are evaluated on the centred path
        (:meth:`_batch_centred`).
        """
        K, D, P = self.n_components, self.n_features, self._P
        pr = self.priors
        n = xs.shape[0]
        z = xs[:, self._i_w]
        v = np.empty((n, K))
        v[:, :-1] = z
        v[:, -1] = -z.sum(axis=1)
        v -= v.max(axis=1, keepdims=True)
        e = np.exp(v)
        se = e.sum(axis=1, keepdims=True)
        w = e / se
        logw = v - np.log(se)
        mu = xs[:, self._i_mu].reshape(n, K, D)
        U = xs[:, self._i_cov]
        if self._batch_components():
            L = self._cov.chol_from_unconstrained(U.ravel(), n * K, D)
        else:
            L = np.concatenate([self._cov.chol_from_unconstrained(U[r], K, D) for r in range(n)])
        L = np.array(L, dtype=float).reshape(n * K, D, D)
        # a factor with a zero or non-finite entry (exp under/overflow far out): the point is
        # invalid; an identity stands in so that the rest of the batch goes on
        dg = L.reshape(n * K, D * D)[:, :: D + 1]
        singular = (~np.isfinite(L).reshape(n, -1).all(axis=1)) | (dg.reshape(n, -1) <= 0).any(axis=1)
        if singular.any():
            L[np.repeat(singular, K)] = np.eye(D)
        if self._batch_components():
            A = self._cov.inverse_cholesky(L)
        else:
            A = np.concatenate([self._cov.inverse_cholesky(L[r * K : (r + 1) * K]) for r in range(n)])
        Prec = np.matmul(np.swapaxes(A, -1, -2), A)
        mu_s = mu.reshape(n * K, D) - self._shift
        Pmu = np.matmul(Prec, mu_s[:, :, None])[:, :, 0]
        Lf = L.reshape(n * K, D * D)
        logdet = np.log(Lf[:, :: D + 1]).sum(-1)
        Q = np.empty((n * K, P + D + 1))
        np.matmul(Prec.reshape(n * K, D * D), self._Tq, out=Q[:, :P])
        Q[:, P : P + D] = Pmu
        Q[:, -1] = logw.ravel() - logdet - 0.5 * D * _LOG_2PI - 0.5 * np.sum(mu_s * Pmu, axis=-1)
        # _expansion_error per point (vectorised over the points' components)
        diag2 = A.reshape(n * K, D * D)[:, :: D + 1] ** 2
        conditioning = ((A * A).sum(axis=1) / diag2).max(axis=1)
        size = np.abs(Pmu * mu_s).sum(axis=1) + np.abs(Q[:, -1]) + D * conditioning
        size = np.where(np.isfinite(size), size, 0.0).reshape(n, K).max(axis=1)
        exact = (_kernels._EPS * size <= _kernels.EXPANSION_TOLERANCE) | singular  # singular: -inf anyway
        ll = np.zeros(n)
        R = np.zeros(n * K)
        d1 = np.zeros((n * K, D))
        C = np.zeros((n * K, D, D))
        rows = np.repeat(exact, K)
        n_exact = int(exact.sum())
        if n_exact:
            W = None
            Qe = Q[rows]
            for ZT in self._design_chunks(None):
                llc, Wc = _batch_stats(Qe, ZT, n_exact)
                ll[exact] += llc
                W = Wc if W is None else W + Wc
            mu_e = mu_s[rows]
            W1 = W[P : P + D].T
            S2 = (W[:P].T @ self._Ts).reshape(-1, D, D)
            de = W1 - W[-1][:, None] * mu_e
            R[rows] = W[-1]
            d1[rows] = de
            C[rows] = S2 - de[:, :, None] * mu_e[:, None, :] - mu_e[:, :, None] * W1[:, None, :]
        if n_exact < n:  # the accurate form for the rest, batched too
            inexact = ~exact
            c = (logw.ravel() - logdet - 0.5 * D * _LOG_2PI)[~rows]
            ll[inexact], R[~rows], d1[~rows], C[~rows] = self._batch_centred(
                A[~rows], mu.reshape(n * K, D)[~rows], c, int(inexact.sum())
            )
        sc = np.repeat(scales, K)
        R *= sc
        d1 *= sc[:, None]
        C *= sc[:, None, None]

        alpha = pr.weights_alpha
        lp = self._const + logw @ alpha + scales * ll
        grad = np.empty((n, self.ndim))
        cw = alpha + R.reshape(n, K)
        gw = cw - cw.sum(axis=1, keepdims=True) * w
        grad[:, self._i_w] = gw[:, :-1] - gw[:, -1:]
        dm = (mu - pr.mean_loc) / pr.mean_sd
        lp -= 0.5 * np.sum(dm * dm, axis=(1, 2))
        gmu = np.matmul(Prec, d1[:, :, None])[:, :, 0].reshape(n, K, D) - dm / pr.mean_sd
        grad[:, self._i_mu] = gmu.reshape(n, K * D)
        dL = np.matmul(np.matmul(Prec, C), np.swapaxes(A, -1, -2)).reshape(n * K, D * D)
        dL[:, :: D + 1] -= R[:, None] / Lf[:, :: D + 1]
        dL = dL.reshape(n * K, D, D)
        if self._batch_components():
            _, gc = self._cov.log_prior_and_grad(L, dL, pr)
            grad[:, self._i_cov] = np.asarray(gc).reshape(n, -1)
            if with_logp:
                zero = np.zeros((K, D, D))
                lp += [self._cov.log_prior_and_grad(L[r * K : (r + 1) * K], zero, pr)[0] for r in range(n)]
            else:
                lp[:] = np.nan
        else:
            for r in range(n):
                sl = slice(r * K, (r + 1) * K)
                lp_c, grad[r, self._i_cov] = self._cov.log_prior_and_grad(L[sl], dL[sl], pr)
                lp[r] += lp_c
            if not with_logp:
                lp[:] = np.nan
        lp[singular], ll[singular] = -np.inf, -np.inf
        return lp, grad, ll

    def _batch_centred(self, A, mu, c, n):
        """Log-likelihoods and statistics of ``n`` points on the centred path (as
        :meth:`_loglik_stats_centred`): ``y = A_k (x - mu_k)`` for all points'
        components at once, in row chunks of at most ``chunk_size`` values per
        component column."""
        K, D = self.n_components, self.n_features
        nk = n * K
        ll = np.zeros(n)
        R, d1, C = np.zeros(nk), np.zeros((nk, D)), np.zeros((nk, D, D))
        At = np.swapaxes(A, -1, -2)
        step = max(1, self.chunk_size // max(1, nk))
        for start in range(0, self.X.shape[0], step):
            Xc = self.X[start : start + step]
            diff = Xc[None, :, :] - mu[:, None, :]  # (nk, m, D)
            y = np.matmul(diff, At)
            lp3 = (c[:, None] - 0.5 * np.einsum("kmd,kmd->km", y, y)).reshape(n, K, -1)
            mx = lp3.max(axis=1)
            lp3 -= mx[:, None, :]
            np.exp(lp3, out=lp3)
            tot = lp3.sum(axis=1)
            lp3 /= tot[:, None, :]
            ll += np.log(tot).sum(axis=1) + mx.sum(axis=1)
            r = lp3.reshape(nk, -1)
            R += r.sum(axis=1)
            d1 += np.einsum("km,kmd->kd", r, diff)
            C += np.matmul(np.swapaxes(diff * r[:, :, None], -1, -2), diff)
        return ll, R, d1, C

    def _logp_and_grad(self, x, X, scale):
        lp, grad, _ = self._logp_and_grad_ll(x, X, scale)
        return lp, grad

    def _logp_and_grad_ll(self, x, X, scale):
        """:meth:`_logp_and_grad` and the untempered log-likelihood (before ``scale``)."""
        K, D = self.n_components, self.n_features
        pr = self.priors
        z = x[self._i_w]
        v = np.empty(self._n_w)
        v[:-1] = z
        v[-1] = -z.sum()
        v -= v.max()
        e = np.exp(v)
        se = e.sum()
        w = e / se
        logw = v - np.log(se)
        mu = x[self._i_mu].reshape(K, D)
        L = self._cov.chol_from_unconstrained(x[self._i_cov], K, D)

        ll, A, Prec, R, d1, C = self._loglik_stats(X, logw, mu, L)
        ll_raw = ll
        if scale != 1.0:
            ll *= scale
            R = R * scale
            d1 = d1 * scale
            C = C * scale

        # --- weights: Dirichlet + Jacobian = const + sum alpha log w
        alpha = self._alpha
        lp = self._const + float(alpha @ logw) + ll
        cw = alpha + R
        gw_full = cw - cw.sum() * w  # gradient wrt v (the full logit vector)
        grad = np.empty(self.ndim)
        grad[self._i_w] = gw_full[:-1] - gw_full[-1]

        # --- means
        dm = (mu - pr.mean_loc) / pr.mean_sd
        lp -= 0.5 * float(np.sum(dm * dm))
        grad[self._i_mu] = (np.matmul(Prec, d1[:, :, None])[:, :, 0] - dm / pr.mean_sd).ravel()

        # --- covariance: likelihood part d/dL = tril(Prec C A^T) - R diag(1/L_ii),
        # then the covariance class's prior and chain rule to its unconstrained block
        dL = np.matmul(np.matmul(Prec, C), np.swapaxes(A, -1, -2)).reshape(K, D * D)
        dL[:, :: D + 1] -= R[:K, None] / L.reshape(K, D * D)[:, :: D + 1]
        lp_cov, grad[self._i_cov] = self._cov.log_prior_and_grad(L, dL.reshape(K, D, D), pr)
        lp += lp_cov
        return float(lp), grad, float(ll_raw)

    # ----------------------------------------------------------- likelihood
    def pointwise_log_likelihood(self, weights, means, covariances, X=None, noise_weight=None) -> np.ndarray:
        """log p(x_n | theta), components summed out, for one parameter draw.

        With the noise component, ``weights`` are the Gaussians' (summing to
        ``1 - noise_weight``; ``noise_weight`` defaults to ``1 - sum(weights)``).

        Parameters
        ----------
        weights : (K,), means : (K, D), covariances : (K, D, D) full matrices
            (or the scikit-learn layout of this density's covariance type).
        X : array (n, D), optional
            Defaults to the stored data.

        Returns
        -------
        ndarray of shape (n,)

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm._logdensity import MixtureDensity
        >>> d = MixtureDensity(np.array([[0.0], [1.0], [2.0]]), 1, "full")
        >>> np.round(d.pointwise_log_likelihood([1.0], [[0.0]], [[[1.0]]]), 4)
        array([-0.9189, -1.4189, -2.9189])
        """
        K, D = self.n_components, self.n_features
        w = np.asarray(weights, dtype=float).reshape(-1)
        mu = np.asarray(means, dtype=float)
        cov = np.asarray(covariances, dtype=float)
        if cov.shape != (K, D, D):
            cov = self._cov.to_full(cov, K, D)
        if w.shape != (K,) or mu.shape != (K, D):
            raise ValueError(f"weights must have shape ({K},) and means ({K}, {D}); got {w.shape} and {mu.shape}.")
        try:
            prec_chol = FULL_MATRICES.precision_cholesky(cov)
        except ValueError:
            raise ValueError("covariances are not positive definite; regularise them (e.g. add reg_covar * I).") from None
        Xe = self.X if X is None else np.asarray(X, dtype=float)
        if self._n_w > K:
            w0 = 1.0 - w.sum() if noise_weight is None else float(noise_weight)
            tot = w.sum() + w0
            with np.errstate(divide="ignore"):
                logw = np.log(np.clip(w, 0, None) / tot)
                g = _kernels.mixture_log_likelihood(Xe, mu, prec_chol, FULL_MATRICES, logw,
                                                    chunk_size=self.chunk_size)
                return np.logaddexp(g, np.log(max(w0, 0.0) / tot) - self._log_v)
        with np.errstate(divide="ignore"):
            logw = np.log(np.clip(w, 0, None) / w.sum())
        # the package's one mixture log-likelihood kernel (as EM and the posterior summaries)
        return _kernels.mixture_log_likelihood(Xe, mu, prec_chol, FULL_MATRICES, logw, chunk_size=self.chunk_size)

