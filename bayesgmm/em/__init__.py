"""Expectation-maximisation for Gaussian mixtures: :class:`GaussianMixture`.

A drop-in for :class:`sklearn.mixture.GaussianMixture` (same constructor
parameters, methods, fitted attributes and numerics: log space, Cholesky
factors of the precisions, ``reg_covar`` on the covariance diagonal, the
same ``lower_bound_``/``n_iter_``/``converged_`` semantics) with

* vectorised E- and M-steps (one matrix product per row chunk for all
  components, or per component for full covariances with many features and
  few components; memory bounded by a chunk budget, never an ``N x K x D``
  temporary for the whole data; row blocks on the caller's BLAS thread
  budget),
* ``sample_weight`` in :meth:`GaussianMixture.fit`,
* :meth:`GaussianMixture.icl` (integrated completed likelihood),
* ``lower_bounds_`` (history) and ``feature_names_in_`` for DataFrames,
* numpy, pandas, xarray and dask input; a dask array is fitted as a map-reduce
  of sufficient statistics over its blocks, so it runs on a
  ``dask.distributed`` cluster,
* re-seeding of empty or collapsed components (with a warning).

The estimator implements scikit-learn's estimator protocol itself
(``get_params``/``set_params``/``__sklearn_tags__``/``__sklearn_is_fitted__``),
so :func:`sklearn.base.clone`, pipelines and grid search work, but
scikit-learn is not needed at run time.

The package's modules:

* :mod:`bayesgmm.em._estimator` -- :class:`GaussianMixture` itself: the
  scikit-learn API, composing the rest;
* :mod:`bayesgmm.em._engine` -- the chunk engine: in-memory or dask data, row
  blocks on threads, the shared BLAS thread limit, map-reduce;
* :mod:`bayesgmm.em._init` -- initialisation strategies and given initial
  parameters;
* :mod:`bayesgmm.em._degeneracy` -- empty and collapsed components,
  re-seeding, the ``reg_covar`` scale check;
* :mod:`bayesgmm.em._prior` -- :class:`ConjugatePrior`, the conjugate prior
  of the MAP estimate (``GaussianMixture(prior=...)``, mclust's
  ``priorControl()``).

What depends on the covariance type is asked of the type's object
(:mod:`bayesgmm.covariance`).

Examples
--------
>>> import numpy as np
>>> from bayesgmm.em import GaussianMixture
>>> X = np.r_[np.zeros((3, 1)), np.ones((3, 1))] + np.arange(6)[:, None] * 1e-2
>>> GaussianMixture(2, covariance_type="spherical", random_state=0).fit(X).weights_.round(2)
array([0.5, 0.5])
"""

from bayesgmm.em._estimator import GaussianMixture
from bayesgmm.em._init import DEFAULT_N_INIT
from bayesgmm.em._prior import ConjugatePrior
# private names reached through ``bayesgmm.em`` before it became a package
from bayesgmm.em._degeneracy import _block_moments  # noqa: F401
from bayesgmm.em._engine import _Data, _thread_budget  # noqa: F401
from bayesgmm.exceptions import ConvergenceWarning, DegenerateComponentWarning, NotFittedError

__all__ = [
    "DEFAULT_N_INIT",
    "ConjugatePrior",
    "ConvergenceWarning",
    "DegenerateComponentWarning",
    "GaussianMixture",
    "NotFittedError",
]
