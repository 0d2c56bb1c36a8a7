"""The entry point :func:`select_components`: its arguments, checked once, and the dispatch.

Every argument is validated here, before any cell is fitted (a cell records
any error of its fit as a failure), then the method's module runs the grid:
:mod:`._bic` (``"bic"``, ``"icl"``), :mod:`._elpd` (``"loo"``, ``"waic"``) or
:mod:`._sparse` (``"sparse"``).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import numpy as np
import pandas as pd

from bayesgmm._data import orient
from bayesgmm._validation import check_array, is_dask_array
from bayesgmm.covariance import (
    BAYESIAN_COVARIANCE_TYPES,
    COVARIANCE_TYPES,
    EM_COVARIANCE_TYPES,
    MCLUST_MODELS,
    get_covariance_type,
)
from bayesgmm.em._init import DEFAULT_N_INIT, check_n_init
from bayesgmm.selection._bic import _select_em
from bayesgmm.selection._elpd import _select_elpd
from bayesgmm.selection._sparse import SPARSE_GIBBS_THIN, SPARSE_SPLIT_MERGE, _select_sparse

__all__ = ["METHODS", "select_components"]

#: Methods accepted by :func:`select_components`.
METHODS = ("bic", "icl", "loo", "waic", "sparse")


def select_components(
    X,
    n_components=range(1, 8),
    covariance_types=("full",),
    method="bic",
    *,
    n_init=DEFAULT_N_INIT,
    random_state=None,
    progressbar=True,
    n_jobs=1,
    icl_method="map",
    priors=None,
    rule="one_se",
    inference=None,
    **fit_kwargs,
):
    """Choose the number of mixture components.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        numpy array, pandas DataFrame, xarray DataArray (obs, feature), or a
        dask array (``"bic"``/``"icl"`` only keep it lazy).
    n_components : int or iterable of int, default range(1, 8)
        Component counts to compare. For ``"sparse"`` only the largest is
        used: it is the number of components of the overfitted mixture.
    covariance_types : str or sequence of str, default ("full",)
        Any of ``"full"``, ``"tied"``, ``"diag"``, ``"spherical"``; for
        ``"bic"``/``"icl"`` also any of mclust's fourteen models (``"EII"``,
        ..., ``"VVV"``; ``"VVV"``, ``"EEE"``, ``"VVI"``, ``"VII"`` are the
        first four), or ``"mclust"`` for all fourteen in mclust's order (as
        mclust's ``Mclust`` does; :meth:`SelectionResult.mclust_table` then
        shows mclust's BIC table). The default stays ``("full",)``: fourteen
        models cost about fourteen times one, and the Bayesian methods offer
        only the first four.
    method : {"bic", "icl", "loo", "waic", "sparse"}, default "bic"
        How to compare (see Notes).
    n_init : int or "auto", default "auto"
        EM starts per cell (for the Bayesian methods, of the EM fit that
        starts the chains). ``"auto"`` (the package's one default, as in
        :class:`bayesgmm.GaussianMixture`) runs as many as a fixed amount of
        work allows: 20 on data of up to about ten thousand rows, where a
        start costs milliseconds, down to 1 on large data. EM is cheap next to
        the comparison it feeds, and too few starts can miss the optimum: on
        Old Faithful, the ``tied`` 3-component fit needed more than 5 k-means
        restarts (``random_state=0``) to reach mclust's log-likelihood.
    random_state : int, numpy Generator, RandomState or None
        One integer seed is taken from it and used for *every* cell, so cell
        ``K`` is the same fit as ``GaussianMixture(K, random_state=seed)`` (or
        ``BayesianGMM``); the same seed gives the same result, also with
        ``n_jobs > 1``.
    progressbar : bool, default True
        One overall progress bar over the fits (tqdm when installed, else a
        line on stderr; a line per finished fit when stderr is not a
        terminal); per-fit progress bars are switched off.
    n_jobs : int or None, default 1
        Parallel fits of the cells, through joblib (``-1``: all cores). The
        default backend (loky) runs them in fresh worker processes, so each
        pays the import of the package once; inside
        ``joblib.parallel_config(backend="dask")`` they run on the workers of
        a ``dask.distributed`` cluster (``n_jobs=-1``: all of them; ``None``:
        ``parallel_config``'s ``n_jobs``). Every
        cell gets the same seed whatever ``n_jobs`` is: the EM cells are
        identical for any ``n_jobs`` (tested); a Bayesian cell is as
        reproducible as the sampler is. With a sampler that already runs its
        chains in parallel, keep ``n_jobs * chains`` at most the number of
        cores.
    icl_method : {"map", "entropy"}, default "map"
        ICL penalty (:meth:`GaussianMixture.icl`): ``"map"`` is R mclust's
        ``icl()`` (so ``icl_mclust`` matches mclust), ``"entropy"`` is
        McLachlan and Peel's ICL-BIC.
    priors : bayesgmm.Priors or None
        Prior configuration of the Bayesian methods. For ``"sparse"``,
        ``None`` means ``Priors(weights_alpha=0.01)``; a given ``priors`` is used
        as is (its ``weights_alpha`` should be small, e.g. 0.01).
    rule : {"one_se", "best"}, default "one_se"
        For ``"loo"``/``"waic"``: ``"best"`` selects the cell with the
        highest elpd; ``"one_se"`` the fewest components whose elpd is within
        one standard error (``dse``) of that, because extra components that
        stay empty or split a cluster cost little elpd and the difference is
        noise. For ``"loo"``, observations whose Pareto k is above
        ``good_k`` are first refitted exactly (each left out in turn, or
        10-fold cross-validation of the cell when more than 10 are flagged;
        ``n_refits`` in the table), so their k becomes 0. Both rules skip
        cells whose LOO estimate is still unusable (refits failed and
        ``max_pareto_k`` above 1, where the importance-sampling
        mean does not exist), with a :class:`ParetoKWarning` naming them
        (their elpd is likely too optimistic); the one-SE rule then measures
        from the best remaining cell. Cells with ``good_k`` (``min(1 -
        1/log10(S), 0.7)``) ``< k <= 1`` are kept, with a warning when the
        table is built. If every cell is unusable, all are used, with a
        warning.
    inference : {"nuts", "advi", "fullrank_advi", "minibatch_advi", "tempering", "gibbs"} or None, default None
        For the Bayesian methods: ``BayesianGMM(method=inference)``. ``None``:
        ``"gibbs"`` for ``method="sparse"`` (with ``thin=SPARSE_GIBBS_THIN`` and,
        unless a type is ``"tied"``, ``split_merge=SPARSE_SPLIT_MERGE`` moves per
        sweep, unless given) where every covariance type has the compiled density
        Gibbs sampling runs on, else ``"nuts"``.
        ``"gibbs"`` (Gibbs sampling with data augmentation: an empty
        component is redrawn from its prior and can refill) or
        ``"tempering"`` (replica exchange) for the overfitted mixture of
        ``method="sparse"``, where NUTS gets stuck between its modes.
    **fit_kwargs
        For ``"bic"``/``"icl"``: passed to :class:`GaussianMixture` (e.g.
        ``reg_covar``, ``max_iter``, ``tol``, ``init_params``). For the
        Bayesian methods: :class:`BayesianGMM`'s parameters (e.g. ``draws``,
        ``tune``, ``chains``); any other keyword is a sampler keyword (its
        ``sampler_kwargs``, e.g. ``target_accept``).

    Returns
    -------
    SelectionResult
        ``table`` is an :class:`xarray.Dataset`:

        * ``"bic"``/``"icl"`` -- dims (``n_components``, ``covariance_type``):
          ``log_likelihood``, ``n_parameters``, ``bic``, ``icl``, ``aic``
          (lower is better), ``bic_mclust``, ``icl_mclust`` (higher is
          better), ``converged``, ``degenerate`` (a near-singular component:
          such a cell is not chosen unless every cell is), ``n_iter``,
          ``seconds``, ``message``.
        * ``"loo"``/``"waic"`` -- same dims: ``elpd``, ``se``, ``p``,
          ``elpd_diff``, ``dse``, ``weight`` (stacking), ``rank``, and for
          LOO ``n_high_pareto_k``, ``max_pareto_k`` (after refits),
          ``max_pareto_k_psis`` (plain PSIS), ``n_refits``,
          ``n_moment_matched``, ``good_k`` (the
          cell's Pareto k threshold); plus ``seconds``,
          ``message``.
        * ``"sparse"`` -- ``probability`` (``covariance_type``,
          ``n_occupied``): posterior probability of each number of occupied
          components; ``occupied`` and ``expected_occupied`` (``covariance_type``,
          chain, draw); ``weights_sorted_mean`` (``covariance_type``, ``rank``):
          the posterior mean of the weights sorted in decreasing order within
          each draw (rank 0 = the largest weight). A per-component mean would
          mislead here: the empty components of the overfitted mixture switch
          labels between draws, so every label's mean weight looks non-zero
          even when the posterior is sure that only a few components are
          occupied; the sorted weights do not depend on the labels and show
          the empty ones as (near) zero.

    Warns
    -----
    SelectionWarning
        One listing every ``"bic"``/``"icl"`` cell's warnings (also in
        ``message``). A cell failed (recorded as NaN with its reason in ``message``), EM
        did not converge, or WAIC is unreliable.
    ParetoKWarning
        PSIS-LOO Pareto k above the threshold, with what to do.
    bayesgmm.diagnostics.SamplingWarning
        Sampling diagnostics of a Bayesian fit, prefixed by its cell.

    Notes
    -----
    **Sign convention.** ``bic``, ``icl`` and ``aic`` follow scikit-learn and
    :meth:`GaussianMixture.bic`: ``BIC = -2 log L + p log n``, *lower is
    better*. R's mclust reports ``2 log L - p log n``, *higher is better*;
    those values are in the separate columns ``bic_mclust = -bic`` and
    ``icl_mclust = -icl``. elpd (LOO, WAIC) is higher-is-better.

    **bic / icl.** One EM fit (``n_init`` starts) per cell. ``p`` is the
    number of free parameters of the mixture (``K - 1`` weights, ``K D``
    means, and the covariance parameters of the type). Cells whose fit fails
    (e.g. more components than distinct points) are NaN, with a warning. The
    best cell minimises ``bic`` (or ``icl``).

    **loo / waic.** One :class:`BayesianGMM` per cell; PSIS-LOO through
    :func:`arviz_stats.loo`, WAIC by :func:`waic` (arviz-stats 1.x dropped
    it); elpd differences, their standard errors and stacking weights
    through :func:`arviz_stats.compare`.

    **sparse.** One :class:`BayesianGMM` with ``K_max = max(n_components)``
    components and Dirichlet concentration 0.01 per component
    (Malsiner-Walli, Fruehwirth-Schnatter and Gruen 2016): superfluous
    components empty out. For each draw the allocations are sampled from the
    responsibilities with the seeded generator and the non-empty components
    counted (:func:`occupied_components`); the selected count is the
    posterior mode. Use a Markov chain method for this (``"gibbs"``, the
    default here and the sampler of Malsiner-Walli et al., whose emptied
    components refill and empty again between sweeps, or NUTS): with
    ``inference="minibatch_advi"`` the mean-field approximation kept
    superfluous components occupied in our checks (5 occupied for 3 true
    clusters), so a VI method gives a :class:`SelectionWarning`. With
    ``alpha = 0.01`` NUTS needs deeper trees than a regular fit (tree depth
    5-8 instead of 3-4 on 60-300 observations), and more so when the truth
    is one cluster; divergences in the overfitted fit are common and are
    reported as warnings (raise ``target_accept`` and ``tune``). A much
    larger ``alpha`` (0.1) samples faster but lets duplicate components share
    a cluster (one true cluster then gave 2 occupied as the mode).

    Fits across cells share no compiled code because the default sampler
    (nutpie on an analytic-gradient numpy density) needs none.

    Examples
    --------
    >>> import bayesgmm as bg
    >>> X = bg.datasets.load_old_faithful()
    >>> res = bg.select_components(X, n_components=range(1, 5),
    ...                            covariance_types=("full", "diag"),
    ...                            progressbar=False, random_state=0)
    >>> res.table["bic"].dims
    ('n_components', 'covariance_type')
    >>> int(res.table["n_parameters"].sel(n_components=2, covariance_type="full"))
    11
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"`method` must be one of {list(METHODS)}; got {method!r}.")
    ks = _check_n_components(n_components)
    cts = _check_covariance_types(covariance_types, em=method in ("bic", "icl"))
    n_init = check_n_init(n_init)
    if not isinstance(progressbar, bool):
        raise TypeError(f"`progressbar` must be True or False; got {progressbar!r}.")
    if icl_method not in ("map", "entropy"):
        raise ValueError(f"`icl_method` must be 'map' or 'entropy'; got {icl_method!r}.")
    if rule not in ("one_se", "best"):
        raise ValueError(f"`rule` must be 'one_se' or 'best'; got {rule!r}.")
    n_jobs = _check_n_jobs(n_jobs)
    seed = _base_seed(random_state)
    # Parameter errors are not per-cell fit failures: raise them here, before
    # the grid runs (a cell catches every error and records it as a failed fit).
    if method in ("bic", "icl"):
        _check_em_kwargs(cts[0], n_init, fit_kwargs)
    else:
        priors = _check_priors(priors)
    Xa, names = check_array(X, name="X", min_samples=2)
    n = int(Xa.shape[0])
    X_fit = orient(X)  # a DataArray by the one orientation rule: the cells read its shape
    if method not in ("bic", "icl") and is_dask_array(Xa):
        Xa = np.asarray(Xa.compute(), dtype=np.float64)
        X_fit = Xa if names is None else pd.DataFrame(Xa, columns=list(names))
    elif not hasattr(X, "shape") or isinstance(X, (list, tuple)):
        X_fit = Xa
    if method in ("bic", "icl"):
        return _select_em(X_fit, n, ks, cts, method, n_init, seed, progressbar, n_jobs,
                          icl_method, fit_kwargs)
    from bayesgmm.bayesian import METHODS as _INFERENCE

    if inference is None:
        inference = "nuts"
        if method == "sparse" and _all_compiled(cts, Xa):
            inference = "gibbs"
            # split-merge moves need a covariance factor per component (not a shared one)
            shared = any(get_covariance_type(ct).shared for ct in cts)
            moves = {} if shared else {"split_merge": SPARSE_SPLIT_MERGE}
            fit_kwargs = {"thin": SPARSE_GIBBS_THIN, **moves, **fit_kwargs}
    if inference not in _INFERENCE:
        raise ValueError(
            f"`inference` must be one of {list(_INFERENCE)}; got {inference!r}."
        )
    fit_kwargs = {**fit_kwargs, "method": inference}
    _check_bayes_kwargs(fit_kwargs)
    if method == "sparse":
        return _select_sparse(X_fit, Xa, ks, cts, n_init, seed, progressbar, n_jobs,
                              priors, fit_kwargs)
    return _select_elpd(X_fit, ks, cts, method, n_init, seed, progressbar, n_jobs,
                        priors, rule, fit_kwargs)


# ---------------------------------------------------------------------------
# argument checks
# ---------------------------------------------------------------------------


def _check_n_components(n_components) -> list[int]:
    """``n_components`` as a sorted list of distinct integers >= 1."""
    if isinstance(n_components, numbers.Integral) and not isinstance(n_components, bool):
        n_components = [n_components]
    if isinstance(n_components, (str, bytes)) or not isinstance(n_components, Iterable):
        raise TypeError(
            "`n_components` must be an iterable of positive integers such as range(1, 8); "
            f"got {type(n_components).__name__} {n_components!r}."
        )
    ks = list(n_components)
    bad = [
        k
        for k in ks
        if isinstance(k, bool) or not isinstance(k, numbers.Integral) or int(k) < 1
    ]
    if not ks or bad:
        raise ValueError(
            "`n_components` must be a non-empty iterable of integers >= 1 such as "
            f"range(1, 8); got {n_components!r}"
            + (f" (invalid entries: {bad!r})" if bad else "")
            + "."
        )
    ks = sorted({int(k) for k in ks})
    return ks


def _check_covariance_types(covariance_types, em: bool = True) -> list[str]:
    """``covariance_types`` as a list of distinct registry names, in the given order.

    ``em``: the EM methods (every model of the registry, and ``"mclust"`` for
    mclust's fourteen); otherwise only the types with a Bayesian model.
    """
    valid = list(EM_COVARIANCE_TYPES if em else BAYESIAN_COVARIANCE_TYPES)
    if isinstance(covariance_types, str):
        covariance_types = MCLUST_MODELS if em and covariance_types == "mclust" else (covariance_types,)
    if not isinstance(covariance_types, Iterable):
        raise TypeError(
            "`covariance_types` must be a string or a sequence of strings from "
            f"{valid}; got {type(covariance_types).__name__}."
        )
    cts = list(covariance_types)
    if not cts:
        raise ValueError(
            "`covariance_types` is empty; pass e.g. ('full',) or "
            f"{tuple(COVARIANCE_TYPES)}."
        )
    out, seen = [], []
    for ct in cts:
        try:
            model = get_covariance_type(ct) if isinstance(ct, str) else None
        except ValueError:
            model = None
        if model is None:
            raise ValueError(
                f"`covariance_types` contains {ct!r}; each entry must be one of {valid}"
                + (" or 'mclust' (all fourteen of mclust's models)." if em else ".")
            )
        if not em and not model.has_bayesian_model:
            raise ValueError(
                f"`covariance_types` contains {ct!r}, which has no Bayesian model: the "
                f"Bayesian methods (loo, waic, sparse) support {list(BAYESIAN_COVARIANCE_TYPES)}; "
                "use method='bic' or 'icl' for mclust's other models."
            )
        if model not in seen:  # "full" and "VVV" are one model: fitted once
            seen.append(model)
            out.append(ct)
    return out


def _check_n_jobs(n_jobs):
    """``n_jobs`` for joblib: a positive int, a negative one (``-1``: all workers) or None."""
    if n_jobs is None:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or n_jobs == 0:
        raise ValueError(
            "`n_jobs` must be a positive integer (number of parallel fits), -1 (all CPU "
            "cores, or all workers of joblib's backend), or None (joblib.parallel_config "
            f"decides); got {n_jobs!r}."
        )
    return int(n_jobs)


def _check_em_kwargs(covariance_type, n_init, fit_kwargs):
    """Validate the EM keywords once, up front (not as a failure of every cell)."""
    bad = sorted(set(fit_kwargs) & {"n_components", "covariance_type", "random_state", "n_init"})
    if bad:
        raise TypeError(
            f"select_components got {bad} in **fit_kwargs; these are set per cell. Use the "
            "arguments n_components, covariance_types, n_init and random_state instead."
        )
    from bayesgmm.em import GaussianMixture

    try:
        gm = GaussianMixture(1, covariance_type=covariance_type, n_init=n_init, **fit_kwargs)
    except TypeError as err:
        raise TypeError(
            f"select_components: invalid keyword for GaussianMixture in **fit_kwargs ({err})."
        ) from None
    gm._check_params()


def _check_bayes_kwargs(fit_kwargs):
    """Reject the **fit_kwargs of a Bayesian method that select_components sets itself."""
    bad = sorted(set(fit_kwargs) & {"n_components", "covariance_type", "random_state", "n_init", "progressbar"})
    if bad:
        raise TypeError(
            f"select_components got {bad} in **fit_kwargs; these are set by "
            "select_components itself (n_components, covariance_types, random_state, "
            "n_init, progressbar arguments)."
        )


def _check_priors(priors):
    """``priors`` as a :class:`Priors` (a dict is validated now) or None."""
    from bayesgmm.priors import Priors

    if priors is None or isinstance(priors, Priors):
        return priors
    if isinstance(priors, dict):
        return Priors.from_dict(priors)
    raise TypeError(
        "`priors` must be a bayesgmm.Priors, a dict of its fields, or None; got "
        f"{type(priors).__name__}. Example: priors=bg.Priors(lkj_eta=4.0)."
    )


def _base_seed(random_state):
    """One integer seed shared by every cell (so cell K equals a direct fit with it)."""
    if random_state is None:
        return None
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**31 - 1))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**31 - 1))
    raise TypeError(
        "`random_state` must be None, an int, a numpy Generator or RandomState; got "
        f"{type(random_state).__name__} ({random_state!r}). Pass e.g. random_state=0."
    )


def _all_compiled(cts, Xa):
    """Whether every covariance type in ``cts`` has the compiled density (Gibbs sampling needs it)."""
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.priors import Priors

    rp = Priors().resolve(np.asarray(Xa, dtype=np.float64), 2)
    return all(get_covariance_type(ct).compiled_block(2, rp.mean_loc.shape[-1], rp) is not None for ct in cts)
