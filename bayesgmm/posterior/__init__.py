"""Posterior analysis for Bayesian Gaussian mixtures.

numpy kernels underneath, xarray in and out on top (dims ``chain``, ``draw``,
``obs``, ``component``, ``feature``, ``feature_bis``; see
``docs/developer/contracts.md``).

* :mod:`~bayesgmm.posterior.relabel` -- label switching (:func:`relabel_draws`) and
  detection of chains stuck in different modes (:func:`detect_chain_modes`).
"""

from __future__ import annotations

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
    "relabel_cost",
    "relabel_draws",
]
