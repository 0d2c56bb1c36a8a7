"""Plots of precomputed bayesgmm results (matplotlib; nothing is computed here).

* :func:`selection` -- component-count selection (:func:`bayesgmm.select_components`).
"""

from ._selection import selection

__all__ = ["selection"]
