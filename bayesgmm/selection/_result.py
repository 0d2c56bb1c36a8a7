"""The result of :func:`bayesgmm.select_components`: :class:`SelectionResult`."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import xarray as xr

from bayesgmm.covariance import get_covariance_type

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

    def _check_em(self, criterion):
        if self.method not in ("bic", "icl"):
            raise ValueError(
                f"only method='bic' or 'icl' results have an information-criterion table; "
                f"this one is method={self.method!r}."
            )
        if criterion not in ("bic", "icl"):
            raise ValueError(f"`criterion` must be 'bic' or 'icl'; got {criterion!r}.")

    def mclust_table(self, criterion: str = "bic", mclust_names: bool = True) -> pd.DataFrame:
        """The criterion in R mclust's layout and sign: ``print(mclustBIC(X))``.

        One row per number of components ``G``, one column per model, values
        ``2 log L - p log n`` (``bic_mclust``; ``icl_mclust`` for ICL): larger
        is better, NaN where the fit failed.

        Parameters
        ----------
        criterion : {"bic", "icl"}, default "bic"
        mclust_names : bool, default True
            Name the columns by mclust's three letters (``"full"`` -> ``"VVV"``).

        Examples
        --------
        >>> import bayesgmm as bg
        >>> X = bg.datasets.make_mixture(150, n_components=2, random_state=1).X
        >>> res = bg.select_components(X, n_components=[1, 2], covariance_types=("EII", "full"),
        ...                            progressbar=False, random_state=0)
        >>> t = res.mclust_table()
        >>> list(t.columns), t.index.name
        (['EII', 'VVV'], 'G')
        """
        self._check_em(criterion)
        df = self.table[f"{criterion}_mclust"].to_pandas()
        if mclust_names:
            df.columns = [get_covariance_type(c).mclust_name for c in df.columns]
        df.index.name = "G"
        df.columns.name = None
        return df

    def best_per_n_components(self, criterion: str | None = None) -> pd.DataFrame:
        """The best model for each number of components (mclust's "best model per G").

        Cells with a near-singular component are skipped where another cell
        with the same number of components is regular (as the selection does).

        Parameters
        ----------
        criterion : {"bic", "icl"}, optional
            Default: the criterion of the selection.

        Returns
        -------
        pandas.DataFrame
            Index ``n_components``; columns ``covariance_type``, ``mclust_name``,
            the criterion (scikit-learn's sign, lower is better), its mclust
            value (higher is better) and ``log_likelihood``.

        Examples
        --------
        >>> import bayesgmm as bg
        >>> X = bg.datasets.make_mixture(150, n_components=2, random_state=1).X
        >>> res = bg.select_components(X, n_components=[1, 2], covariance_types=("EII", "full"),
        ...                            progressbar=False, random_state=0)
        >>> list(res.best_per_n_components().columns)
        ['covariance_type', 'mclust_name', 'bic', 'bic_mclust', 'log_likelihood']
        """
        criterion = self.method if criterion is None else criterion
        self._check_em(criterion)
        values = self.table[criterion].to_numpy()
        regular = ~self.table["degenerate"].to_numpy()
        cts = [str(c) for c in self.table["covariance_type"].to_numpy()]
        rows = []
        for i, k in enumerate(self.table["n_components"].to_numpy()):
            v = values[i]
            if np.isfinite(v[regular[i]]).any():
                v = np.where(regular[i], v, np.nan)
            if not np.isfinite(v).any():
                rows.append((int(k), None, None, np.nan, np.nan, np.nan))
                continue
            j = int(np.nanargmin(v))
            rows.append((
                int(k), cts[j], get_covariance_type(cts[j]).mclust_name, float(values[i, j]),
                -float(values[i, j]), float(self.table["log_likelihood"].to_numpy()[i, j]),
            ))
        cols = ["n_components", "covariance_type", "mclust_name", criterion,
                f"{criterion}_mclust", "log_likelihood"]
        return pd.DataFrame(rows, columns=cols).set_index("n_components")

    def __repr__(self) -> str:
        return (
            f"SelectionResult(method={self.method!r}, n_components={self.n_components}, "
            f"covariance_type={self.covariance_type!r})"
        )

