"""From sampler output to the result tree: posterior variables, dims, coords, DataTree."""

from __future__ import annotations

import numpy as np
import xarray as xr

from bayesgmm.covariance import get_covariance_type

POSTERIOR_VARS = ("weights", "means", "covariances", "sds", "correlations")
_DIMS = {
    "weights": ("component",),
    "means": ("component", "feature"),
    "covariances": ("component", "feature", "feature_bis"),
    "sds": ("component", "feature"),
    "correlations": ("component", "feature", "feature_bis"),
    "noise_weight": (),
}


def _coords(dens):
    return {
        "component": np.arange(dens.n_components),
        "feature": list(dens.feature_names),
        "feature_bis": list(dens.feature_names),
    }


def _posterior_vars(dens):
    """The posterior variables of ``dens``'s covariance type (``correlations`` only with correlations)."""
    with_corr = get_covariance_type(dens.covariance_type).has_correlations
    names = [v for v in POSTERIOR_VARS if with_corr or v != "correlations"]
    if getattr(dens, "noise_hypervolume", None) is not None:  # the uniform noise component
        names.append("noise_weight")
    return names


def _draws_to_dataset(dens, xs):
    """Dataset (chain, draw, ...) from an array of unconstrained draws (chain, draw, ndim)."""
    C, S, _ = xs.shape
    names = _posterior_vars(dens)
    arrays = {n: [] for n in names}
    for x in xs.reshape(C * S, -1):
        p = dens.unpack(x)
        for n in names:
            arrays[n].append(p[n])
    coords = {"chain": np.arange(C), "draw": np.arange(S), **_coords(dens)}
    data = {
        n: (("chain", "draw", *_DIMS[n]), np.stack(arrays[n]).reshape(C, S, *arrays[n][0].shape)) for n in names
    }
    return xr.Dataset(data, coords=coords)


def _select_posterior(ds, dens):
    """The posterior variables of a PyMC result, with the contract's component coordinate."""
    ds = ds[_posterior_vars(dens)]
    return ds.assign_coords(component=np.arange(dens.n_components))


def _tree(posterior, sample_stats, attrs):
    children = {"posterior": xr.DataTree(posterior)}
    if sample_stats is not None:
        children["sample_stats"] = xr.DataTree(sample_stats)
    tree = xr.DataTree(children=children)
    tree.attrs.update(attrs)
    return tree


def _numeric_only(ds):
    drop = [n for n, v in ds.data_vars.items() if v.dtype.kind not in "biuf"]
    return ds.drop_vars(drop)
