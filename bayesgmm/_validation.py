"""Kept for import compatibility: input validation now lives in :mod:`bayesgmm._data`.

Every name here is the same object as in :mod:`bayesgmm._data`; new code imports
from there.

Examples
--------
>>> import bayesgmm._data
>>> from bayesgmm._validation import check_array
>>> check_array is bayesgmm._data.check_array
True
"""

from bayesgmm._data import (
    check_array,
    check_feature_names,
    check_n_features,
    check_random_state,
    check_sample_weight,
    is_dask_array,
)

__all__ = [
    "check_array",
    "check_feature_names",
    "check_n_features",
    "check_random_state",
    "check_sample_weight",
    "is_dask_array",
]
