"""Plots of precomputed bayesgmm results (matplotlib; nothing is computed here).

* :func:`selection` -- component-count selection (:func:`bayesgmm.select_components`).
* :func:`clusters` -- data coloured by a partition with posterior and EM covariance ellipses.
* :func:`membership_uncertainty` -- observations shaded by assignment entropy or probability.
* :func:`coclustering` -- posterior similarity heatmap ordered by a partition.
* :func:`compare_em` -- EM vs posterior forest plot.
* :func:`trace`, :func:`rank`, :func:`pair` -- arviz-plots on the relabelled draws.
* :func:`anomalies` -- density contours, interval width and flagged points.

Any number of features works: with many, the plots show by default the features (or
pairs of features) that separate the components most and say so, and take
``features=`` (``pairs=`` for :func:`clusters`, ``page=`` for :func:`compare_em`) to
choose others.  Feature names are drawn as given, ``/`` included.
"""

from ._selection import selection
from ._clusters import clusters
from ._membership import membership_uncertainty
from ._coclustering import coclustering
from ._compare import compare_em
from ._diagnostics import pair, rank, trace
from ._anomaly import anomalies

__all__ = [
    "selection",
    "clusters",
    "membership_uncertainty",
    "coclustering",
    "compare_em",
    "trace",
    "rank",
    "pair",
    "anomalies",
]
