"""Choosing the number of components: :func:`select_components`.

Three answers to "how many clusters?", side by side:

* ``method="bic"`` / ``"icl"`` -- an EM grid over component counts and
  covariance types, in the manner of R's ``mclust``: log-likelihood, number of
  free parameters, BIC, ICL and AIC per cell, and the best cell.
* ``method="loo"`` / ``"waic"`` -- one :class:`bayesgmm.BayesianGMM` per cell,
  compared by the expected log pointwise predictive density (elpd), estimated
  by PSIS-LOO (:func:`arviz_stats.loo`, :func:`arviz_stats.compare`) or WAIC.
* ``method="sparse"`` -- one overfitted mixture with many components and a
  small Dirichlet concentration (Malsiner-Walli, Fruehwirth-Schnatter and
  Gruen, 2016), giving the posterior distribution of the number of *occupied*
  components.

Every result is a :class:`SelectionResult`: a labelled :class:`xarray.Dataset`
(``result.table``), its DataFrame view (``result.to_dataframe()``), the best
model and all fitted models. :func:`bayesgmm.plots.selection` draws it.

Where the code lives (every name below is imported from ``bayesgmm.selection``):

* ``_api`` -- :func:`select_components`: argument checks and the dispatch to
  a method.
* ``_cells`` -- fitting the grid's cells (in order or in worker processes),
  the progress bar, per-cell failures and warnings.
* ``_bic`` -- ``"bic"``/``"icl"``: the EM cells and their criteria table.
* ``_elpd`` -- ``"loo"``/``"waic"``: :func:`waic`, the elpd table and the
  selection rules (one-SE, Pareto k).
* ``_sparse`` -- ``"sparse"``: :func:`occupied_components` and the table of
  the overfitted mixture.
* ``_result`` -- :class:`SelectionResult`.
"""

from __future__ import annotations

from bayesgmm.exceptions import ParetoKWarning, SelectionWarning
from bayesgmm.selection._api import METHODS, select_components
from bayesgmm.selection._result import SelectionResult

# The constants and helpers outside __all__ stay importable from here, where the
# single module used to define them (tests use _pick_elpd and _sorted_weights_mean).
from bayesgmm.selection._elpd import PARETO_K_SKIP, _pick_elpd, moment_match_loo, waic  # noqa: F401
from bayesgmm.selection._sparse import (  # noqa: F401
    OCCUPIED_RHAT_MAX,
    SPARSE_ALPHA,
    SPARSE_GIBBS_THIN,
    SPARSE_SPLIT_MERGE,
    _sorted_weights_mean,
    occupied_components,
    occupied_rhat,
)

__all__ = [
    "METHODS",
    "ParetoKWarning",
    "SelectionResult",
    "SelectionWarning",
    "occupied_components",
    "select_components",
    "moment_match_loo",
    "waic",
]
