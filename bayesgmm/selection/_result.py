"""The result of :func:`bayesgmm.select_components`: :class:`SelectionResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import xarray as xr

__all__ = ["SelectionResult"]


@dataclass
class SelectionResult:
    """Outcome of :func:`select_components`.

    Attributes
    ----------
    method : str
        ``"bic"``, ``"icl"``, ``"loo"``, ``"waic"`` or ``"sparse"``.
    table : xarray.Dataset
        The labelled results (see :func:`select_components` for the variables
        of each method). ``table.attrs`` record the method, the criterion, its
        sign convention and the best cell.
    n_components : int
        The selected number of components (for ``"sparse"``: the posterior
        mode of the number of occupied components).
    covariance_type : str
        The covariance type of the selected cell.
    best_model : GaussianMixture or BayesianGMM
        The fitted model of the selected cell (for ``"sparse"``: the
        overfitted model).
    models : dict
        ``{(n_components, covariance_type): fitted model or None}`` for every
        cell (``None`` where the fit failed).
    comparison : pandas.DataFrame or None
        For ``"loo"``/``"waic"``: :func:`arviz_stats.compare`'s table (rows
        named ``"K=3 full"``), best first.

    Examples
    --------
    >>> import bayesgmm as bg
    >>> X = bg.datasets.make_mixture(200, n_components=2, random_state=0).X
    >>> res = bg.select_components(X, n_components=range(1, 4), progressbar=False,
    ...                            random_state=0)
    >>> res.n_components
    2
    >>> bool(res.to_dataframe().loc[(2, "full"), "bic"] == res.table["bic"].sel(
    ...     n_components=2, covariance_type="full").item())
    True
    """

    method: str
    table: xr.Dataset
    n_components: int
    covariance_type: str
    best_model: object
    models: dict = field(repr=False)
    comparison: pd.DataFrame | None = field(default=None, repr=False)

    def to_dataframe(self) -> pd.DataFrame:
        """The table as a :class:`pandas.DataFrame`.

        For the grid methods the index is (``n_components``,
        ``covariance_type``) and there is one column per criterion. For
        ``"sparse"`` the index is (``covariance_type``, ``n_occupied``) with
        the posterior probability of each number of occupied components.

        Examples
        --------
        >>> import bayesgmm as bg
        >>> X = bg.datasets.make_mixture(150, n_components=2, random_state=1).X
        >>> res = bg.select_components(X, n_components=[1, 2], progressbar=False,
        ...                            random_state=0)
        >>> list(res.to_dataframe().columns[:3])
        ['log_likelihood', 'n_parameters', 'bic']
        """
        if self.method == "sparse":
            vars_ = [v for v in ("probability",) if v in self.table]
            return self.table[vars_].to_dataframe()
        dims = ("n_components", "covariance_type")
        vars_ = [v for v in self.table.data_vars if set(self.table[v].dims) == set(dims)]
        return self.table[vars_].to_dataframe(dim_order=list(dims))

    def __repr__(self) -> str:
        return (
            f"SelectionResult(method={self.method!r}, n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r})"
        )

