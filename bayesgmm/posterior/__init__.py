"""Posterior analysis for Bayesian Gaussian mixtures.

numpy kernels underneath, xarray in and out on top (dims ``chain``, ``draw``,
``obs``, ``component``, ``feature``, ``feature_bis``; see
``docs/developer/contracts.md``).

* :mod:`~bayesgmm.posterior.relabel` -- label switching (:func:`relabel_draws`) and
  detection of chains stuck in different modes (:func:`detect_chain_modes`).
* :mod:`~bayesgmm.posterior.membership` -- membership probabilities with intervals
  (:func:`membership_summary`, :func:`predictive_membership`; :func:`membership_table`
  as a wide DataFrame), the posterior predictive
  density (:func:`posterior_predictive_log_density`) and the pointwise log-likelihood.
* :mod:`~bayesgmm.posterior.similarity` -- the co-clustering matrix
  (:func:`posterior_similarity`).
* :mod:`~bayesgmm.posterior.partition` -- point partitions (:func:`point_partition`
  minimising expected Binder / VI loss, :func:`map_partition`), the adjusted Rand index
  and :func:`ambiguous_observations`.
* :mod:`~bayesgmm.posterior.density` -- the posterior distribution of the log density
  (:func:`log_density_summary`), posterior predictive simulation, false-alarm thresholds
  and anomaly scores (:func:`anomaly_summary`).
* :mod:`~bayesgmm.posterior.compare` -- EM against the posterior (:func:`compare_em`)
  and EM labels against the posterior partition (:func:`compare_partitions`).
"""

from __future__ import annotations

from bayesgmm.posterior.similarity import (
    posterior_similarity,
    similarity_from_labels,
    similarity_from_memberships,
)
from bayesgmm.posterior.compare import compare_em, compare_partitions
from bayesgmm.posterior.density import (
    anomaly_summary,
    log_density_summary,
    per_draw_thresholds,
    predictive_threshold,
    sample_posterior_predictive,
)
from bayesgmm.posterior.membership import (
    membership_summary,
    membership_table,
    pointwise_log_likelihood,
    posterior_predictive_log_density,
    predictive_membership,
)
from bayesgmm.posterior.partition import (
    adjusted_rand_index,
    ambiguous_observations,
    expected_binder_loss,
    expected_vi_lower_bound,
    map_partition,
    point_partition,
    salso,
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
    "anomaly_summary",
    "log_density_summary",
    "per_draw_thresholds",
    "predictive_threshold",
    "sample_posterior_predictive",
    "adjusted_rand_index",
    "ambiguous_observations",
    "compare_em",
    "compare_partitions",
    "expected_binder_loss",
    "expected_vi_lower_bound",
    "map_partition",
    "point_partition",
    "posterior_similarity",
    "salso",
    "similarity_from_labels",
    "similarity_from_memberships",
    "apply_permutation",
    "detect_chain_modes",
    "membership_summary",
    "membership_table",
    "pointwise_log_likelihood",
    "posterior_predictive_log_density",
    "predictive_membership",
    "relabel_cost",
    "relabel_draws",
]
