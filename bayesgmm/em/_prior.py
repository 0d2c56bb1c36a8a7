"""The conjugate prior of EM's MAP estimate (mclust's ``priorControl()``).

Fraley & Raftery (2007, "Bayesian regularization for normal mixture
estimation and model-based clustering", J. Classification 24:155-181) replace
the maximum-likelihood M-step by the posterior mode under a conjugate prior:
for every component ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)``, and an
inverse-Wishart ``(dof, scale)`` prior on each free covariance matrix, or an
inverse-gamma ``(dof / 2, scale / 2)`` prior on each free variance. EM then
climbs the log posterior (log-likelihood plus log prior) instead of the
log-likelihood, and no covariance can collapse onto tied values or a single
observation: each stays above ``scale / (n_k + dof + D + 2)``.

:class:`ConjugatePrior` holds the user's settings; :meth:`ConjugatePrior.resolve`
fills in mclust's ``defaultPrior`` from the data. The M-steps and the log
prior density are the covariance types' (``m_step(..., prior=...)``,
``log_conjugate_prior``).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from bayesgmm.covariance import CONJUGATE_PRIOR_TYPES

__all__ = ["ConjugatePrior", "ResolvedConjugatePrior", "check_prior"]


@dataclass(frozen=True)
class ResolvedConjugatePrior:
    """A conjugate prior with every value filled in for one fit.

    Attributes
    ----------
    shrinkage : float
        ``kappa``: the prior of the means counts as this many observations.
    mean : ndarray of shape (n_features,)
        The prior mean of every component mean (in the coordinates where it is
        used: the fit shifts it with the data).
    dof : float
        Degrees of freedom ``nu`` of the covariance prior.
    scale : ndarray of shape (n_features, n_features) or float
        The covariance prior's scale in the covariance type's form: a matrix
        for general covariance matrices, a variance for axis variances.
    """

    shrinkage: float
    mean: np.ndarray
    dof: float
    scale: np.ndarray | float

    def shifted(self, shift):
        """The same prior with its mean in coordinates shifted by ``shift``."""
        return ResolvedConjugatePrior(self.shrinkage, self.mean - shift, self.dof, self.scale)


class ConjugatePrior:
    """The conjugate prior of Fraley & Raftery (2007): EM's MAP estimate, as mclust's ``priorControl()``.

    Pass it as ``GaussianMixture(prior=ConjugatePrior(...))``, or
    ``prior="default"`` for these defaults (mclust's ``defaultPrior``). EM then
    maximises the log posterior: the log-likelihood plus

    * ``mu_k | Sigma_k ~ N(mean, Sigma_k / shrinkage)`` for every component,
    * ``Sigma_k ~ InverseWishart(dof, scale)`` for each free covariance
      matrix (``full``: one per component; ``tied``: one), or
      ``sigma^2 ~ InverseGamma(dof / 2, scale / 2)`` for each free variance
      (``diag``: per component and feature; ``spherical``: per component;
      ``EII``: one; ``EEI``: one per feature),

    with a flat prior on the weights. The M-step is the posterior mode given
    the responsibilities, in closed form; no covariance can collapse onto
    tied values or one observation, so the spurious maxima of maximum
    likelihood (a component on a few equal values of a rounded feature) are
    gone. BIC and ICL still use the log-likelihood at the MAP estimate, as
    mclust does.

    Parameters
    ----------
    shrinkage : float, default=0.01
        ``kappa`` >= 0: the prior of each mean counts as this many
        observations at ``mean``. 0: a flat prior on the means (their
        maximum-likelihood values).
    mean : array-like of shape (n_features,), optional
        Prior mean of the component means; default: the data's mean.
    dof : float, optional
        Degrees of freedom ``nu`` > 0 (> D - 1 for the inverse-Wishart);
        default ``n_features + 2``.
    scale : float or array-like of shape (n_features, n_features), optional
        The covariance prior's scale. Default (mclust): the data's covariance
        (unbiased) divided by ``n_components ** (2 / n_features)`` for
        general matrices (``full``, ``tied``); for axis variances the mean of
        the data's variances divided by the same (a number). A number for a
        matrix type means that number times the identity.

    Notes
    -----
    The covariance types with a conjugate prior are
    :data:`bayesgmm.covariance.CONJUGATE_PRIOR_TYPES`: ``full`` (VVV),
    ``tied`` (EEE), ``diag`` (VVI), ``spherical`` (VII), EII and EEI. For the
    first four the M-step is mclust's (``Mclust(..., prior = priorControl())``
    reaches the same fit). For EII and EEI it is the exact posterior mode of
    the prior above, where mclust 6 differs: its EII update leaves the
    prior's scale out, and its EEI update counts one mean prior instead of
    ``G``.

    With a prior, ``lower_bound_`` is the mean log posterior per observation
    (log-likelihood plus log prior, over ``n``), the objective EM increases;
    ``score`` stays the mean log-likelihood. ``reg_covar`` is not added to
    the covariances (the prior's scale regularises them). ``sample_weight``
    cannot be combined with a prior.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesgmm import GaussianMixture
    >>> from bayesgmm.em import ConjugatePrior
    >>> rng = np.random.default_rng(0)
    >>> X = np.r_[rng.normal(0, 1, (50, 2)), rng.normal(5, 1, (50, 2))]
    >>> X[:5] = [7.0, 7.0]  # five tied rows: a spike under maximum likelihood
    >>> gm = GaussianMixture(3, covariance_type="diag", prior=ConjugatePrior(), random_state=0).fit(X)
    >>> bool(gm.covariances_.min() > 1e-3)
    True
    """

    def __init__(self, shrinkage=0.01, mean=None, dof=None, scale=None):
        self.shrinkage = shrinkage
        self.mean = mean
        self.dof = dof
        self.scale = scale

    def __repr__(self):
        args = [f"{k}={v!r}" for k, v in vars(self).items() if v is not None or k == "shrinkage"]
        return f"ConjugatePrior({', '.join(args)})"

    def __eq__(self, other):
        if not isinstance(other, ConjugatePrior):
            return NotImplemented
        return all(np.array_equal(np.asarray(a, dtype=object), np.asarray(b, dtype=object))
                   for a, b in zip(vars(self).values(), vars(other).values()))

    __hash__ = None

    def resolve(self, data_mean, data_covariance, covariance, n_components):
        """The prior for one fit, defaults filled in (mclust's ``defaultPrior``).

        Parameters
        ----------
        data_mean : ndarray of shape (D,)
        data_covariance : ndarray of shape (D, D)
            The data's unbiased covariance.
        covariance : CovarianceModel
            The fit's covariance type (it gives the scale's form).
        n_components : int

        Returns
        -------
        ResolvedConjugatePrior

        Raises
        ------
        ValueError
            A setting out of range, or of the wrong shape.

        Examples
        --------
        >>> import numpy as np
        >>> from bayesgmm.covariance import get_covariance_type
        >>> r = ConjugatePrior().resolve(np.zeros(2), np.diag([4.0, 1.0]), get_covariance_type("full"), 2)
        >>> r.dof, r.scale.diagonal().tolist()
        (4.0, [2.0, 0.5])
        """
        d = len(data_mean)
        shrinkage = self.shrinkage
        if (not isinstance(shrinkage, numbers.Real) or isinstance(shrinkage, bool)
                or not np.isfinite(shrinkage) or shrinkage < 0):
            raise ValueError(f"the prior's `shrinkage` must be a finite number >= 0; got {shrinkage!r}.")
        if self.mean is None:
            mean = np.asarray(data_mean, dtype=np.float64).copy()
        else:
            mean = np.asarray(self.mean, dtype=np.float64)
            if mean.shape != (d,) or not np.all(np.isfinite(mean)):
                raise ValueError(
                    f"the prior's `mean` must be {d} finite numbers (one per feature); "
                    f"got shape {mean.shape}."
                )
        dof = float(d + 2) if self.dof is None else self.dof
        if (not isinstance(dof, numbers.Real) or isinstance(dof, bool) or not np.isfinite(dof)
                or dof <= (d - 1 if covariance.is_matrix else 0)):
            bound = f"> n_features - 1 = {d - 1}" if covariance.is_matrix else "> 0"
            raise ValueError(f"the prior's `dof` must be a finite number {bound}; got {dof!r}.")
        scale = covariance.conjugate_prior_scale(self.scale, np.asarray(data_covariance), n_components)
        return ResolvedConjugatePrior(float(shrinkage), mean, float(dof), scale)


def check_prior(prior, covariance):
    """The :class:`ConjugatePrior` of ``GaussianMixture(prior=...)``, or None.

    Raises
    ------
    ValueError
        ``prior`` is not None, ``"default"`` or a :class:`ConjugatePrior`, or
        the covariance type has no conjugate prior (the message names those
        that have one).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> check_prior("default", get_covariance_type("diag"))
    ConjugatePrior(shrinkage=0.01)
    """
    if prior is None:
        return None
    if isinstance(prior, str) and prior == "default":
        prior = ConjugatePrior()
    if not isinstance(prior, ConjugatePrior):
        raise ValueError(
            '`prior` must be None, "default" or a bayesgmm.ConjugatePrior; '
            f"got {prior!r}."
        )
    if not covariance.has_conjugate_prior:
        raise ValueError(
            f"`prior` is not available for covariance_type={covariance.name!r} (mclust's "
            f"{covariance.mclust_name}): no conjugate-prior M-step; use one of "
            f"{list(CONJUGATE_PRIOR_TYPES)} or prior=None."
        )
    return prior
