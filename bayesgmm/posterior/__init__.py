"""Posterior analysis for Bayesian Gaussian mixtures.

numpy kernels underneath, xarray in and out on top (dims ``chain``, ``draw``,
``obs``, ``component``, ``feature``, ``feature_bis``; see
``docs/developer/contracts.md``).

* :mod:`~bayesgmm.posterior.relabel` -- label switching (:func:`relabel_draws`) and
  detection of chains stuck in different modes (:func:`detect_chain_modes`).
* :mod:`~bayesgmm.posterior.membership` -- membership probabilities with intervals
  (:func:`membership_summary`, :func:`predictive_membership`), the posterior predictive
  density (:func:`posterior_predictive_log_density`) and the pointwise log-likelihood.
"""

from __future__ import annotations

from bayesgmm.posterior.membership import (
    membership_summary,
    pointwise_log_likelihood,
    posterior_predictive_log_density,
    predictive_membership,
)
from bayesgmm.posterior.relabel import (
    ChainModeReport,
    apply_permutation,
    detect_chain_modes,
    relabel_cost,
    relabel_draws,
)

__all__ = [
    "ChainModeReport",
    "apply_permutation",
    "detect_chain_modes",
    "membership_summary",
    "pointwise_log_likelihood",
    "posterior_predictive_log_density",
    "predictive_membership",
    "relabel_cost",
    "relabel_draws",
]
