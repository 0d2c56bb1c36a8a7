"""Initialisation strategies of the EM fit.

:func:`initial_parameters` gives the starting ``(weights, means, covariances,
precisions_chol)`` of one initialisation: from given parameters
(``weights_init``, ``means_init``, ``precisions_init``, checked by
:func:`check_initial_parameters`) and, for what is not given, an M-step on
the responsibilities of one of scikit-learn's strategies (``init_params``):

* ``"kmeans"`` -- hard assignments of k-means (k-means++ seeding, then Lloyd
  iterations as a map-reduce over the data blocks);
* ``"k-means++"`` -- one observation per component from k-means++ seeding;
* ``"random"`` -- uniform random responsibilities;
* ``"random_from_data"`` -- one randomly chosen observation per component;
* ``"random_partition"`` -- each observation assigned to a uniformly random
  component (hard labels; like R mclust's random-pairs starts, the symmetry
  is broken by the sampling noise of the groups and EM splits the data from
  the centre out);
* ``"hc"`` -- R mclust's model-based hierarchical agglomeration
  (:mod:`bayesgmm.em._hierarchical`) for the first initialisation, k-means
  for the others (the agglomeration is deterministic for data of at most
  :data:`~bayesgmm.em._hierarchical.MAX_ROWS` rows).

``n_init="auto"`` (the default) runs as many starts as a fixed amount of work
allows (:func:`auto_n_init`): many on data of up to tens of thousands of
rows, where a start costs milliseconds and the best maximum of a mixture is
often reached from only a few of them, one on large data. The first uses
``init_params``; the others cycle through :data:`AUTO_STRATEGIES`, because
different kinds of start reach different maxima (on mclust's standard data
sets, ten random-partition or random-observation starts each reached more of
mclust's best maxima than ten k-means starts, and a mixture of kinds more than
any one kind: ``benchmarks/mclust/``). Where that first round was capped at
:data:`AUTO_MAX_STARTS` and its starts ended at many different maxima
(:func:`rugged`), further rounds run (:func:`auto_extra_starts`), cycling
through :data:`AUTO_EXTRA_STRATEGIES`; each searches on its own (its starts,
then split-and-merge moves from its best) and the fit keeps a later round's
result only where it ends higher, so the first round's fit is never lost.
Where the capped first round does not look rugged, :data:`AUTO_PROBE_STARTS`
unit-free starts (k-means on the standardised features) test its agreement,
and the later rounds run where one of them ends higher.
"""

from __future__ import annotations

import numbers
from contextlib import contextmanager

import numpy as np

from bayesgmm import _kernels
from bayesgmm.em._engine import _Data
from bayesgmm.em._hierarchical import hierarchical_statistics
from bayesgmm.em._kmeans import (
    centred_on_labels,
    first_reaching,
    label_sums,
    nearest_centres_blas,
    trial_potentials,
    update_closest,
)

#: The one default of ``n_init`` everywhere: :class:`bayesgmm.GaussianMixture`,
#: :class:`bayesgmm.BayesianGMM`, :func:`bayesgmm.select_components`,
#: ``run_inference(init=None)`` and the CLI's ``--n-init``. ``"auto"`` runs as many
#: EM starts as a fixed amount of work allows (:func:`auto_n_init`: 20 on data of up to
#: about ten thousand rows, where a start costs milliseconds, and up to 60 there when
#: the starts end at many different maxima (:func:`rugged`); one on large data).
#: EM is cheap next to what it feeds, and too few restarts can miss the optimum: Old
#: Faithful's ``tied`` 3-component fit needs more than 5 k-means restarts
#: (``random_state=0``) to reach mclust's log-likelihood.
DEFAULT_N_INIT = "auto"


def check_n_init(value, name="n_init"):
    """``value`` if it is ``"auto"`` or an integer >= 1 (as ``int``); else a clear error.

    The one check of ``n_init`` for every function that passes it on to
    :class:`bayesgmm.GaussianMixture`.

    Examples
    --------
    >>> check_n_init("auto"), check_n_init(3)
    ('auto', 3)
    >>> check_n_init(0)
    Traceback (most recent call last):
    ...
    ValueError: `n_init` must be "auto" or an integer >= 1 (EM starts per fit); got 0.
    """
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(
            f'`{name}` must be "auto" or an integer >= 1 (EM starts per fit); got {value!r}.'
        )
    return int(value)

#: The valid ``init_params``.
INIT_PARAMS = ("kmeans", "k-means++", "random", "random_from_data", "random_partition", "hc")

#: EM iterations before the convergence test applies, per strategy: a random
#: partition starts next to the symmetric saddle point (every component near
#: the data's mean and covariance), where the bound is flat at first and a
#: default ``tol`` would stop EM before the components separate.
MIN_ITERATIONS = {"random_partition": 10}

#: ``n_init="auto"``: the strategies of the second to twentieth starts, in turn.
AUTO_STRATEGIES = ("random_partition", "random_from_data", "kmeans")

#: ``n_init="auto"``: the strategies of the later rounds of starts
#: (:func:`auto_extra_starts`), in turn. ``"standardised_kmeans"`` (an internal
#: strategy, not an ``init_params`` value) runs k-means on the features divided
#: by their standard deviations, as mclust's standardised hierarchical start
#: does, so its partition does not depend on the units of the features (nor
#: does a random partition's); the first round's raw k-means does. On Old
#: Faithful, EVV with three components, the raw starts end at -1125.661 with
#: ``waiting`` in minutes and at mclust's -1124.127 with it in hours.
AUTO_EXTRA_STRATEGIES = ("random_partition", "random_from_data", "standardised_kmeans")

#: ``n_init="auto"``: at most this many starts ...
AUTO_MAX_STARTS = 20

#: ... and as many as fit in this much work, counted as rows x components x
#: (features + moment features) per start: 20 starts up to e.g. 10,000 rows,
#: 3 features, 4 components (full); one start at 100,000 rows, 10 features,
#: 10 components.
AUTO_WORK = 2e7


def auto_n_init(covariance, n_samples, n_components, n_features):
    """Number of starts of ``n_init="auto"``: ``AUTO_WORK`` over one start's work.

    Between 1 and :data:`AUTO_MAX_STARTS`.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> full = get_covariance_type("full")
    >>> auto_n_init(full, 272, 3, 2), auto_n_init(full, 100_000, 10, 10)
    (20, 1)
    """
    return int(min(AUTO_MAX_STARTS, max(1, auto_work_starts(covariance, n_samples, n_components,
                                                              n_features))))


#: ``n_init="auto"``: where the first round does not look rugged (its starts
#: agree on the best maximum), this many starts of k-means on the standardised
#: features (:data:`AUTO_PROBE_STRATEGY`) test whether that agreement is an
#: artefact of the features' units: the first round's raw k-means starts are
#: not unit-free, though the likelihood of every model but the spherical ones
#: is unchanged by rescaling a feature. Where a probe start ends higher than
#: the first round's best, the later rounds run (:func:`auto_extra_starts`).
#: On Old Faithful, EVV with three components, the 20 first-round starts end
#: at or below -1125.661 (as do 20 of 20 raw k-means starts from different
#: seeds) and about half of the standardised k-means starts at mclust's
#: -1124.127 (``benchmarks/mclust/probe.py``).
AUTO_PROBE_STARTS = 4

#: ... their strategy (internal, not an ``init_params`` value).
AUTO_PROBE_STRATEGY = "standardised_kmeans"

#: ``n_init="auto"``: at most this many more starts, in rounds of
#: :data:`AUTO_MAX_STARTS` that run while the starts so far look rugged
#: (:func:`rugged`) and the work budget pays for them (:func:`auto_extra_starts`).
AUTO_EXTRA_STARTS = 40

#: :func:`rugged`: two starts reached the same maximum when their lower bounds
#: (per observation) differ by at most this many times ``tol`` ...
RUGGED_TOL_FACTOR = 10.0

#: ... or by at most this much (per observation), whichever is larger.
RUGGED_MIN_MARGIN = 1e-5

#: ... and a landscape is rugged when at least this fraction of the starts
#: ended at a maximum that no other start reached.
RUGGED_SINGLETONS = 0.5


def auto_extra_starts(covariance, n_samples, n_components, n_features, n_init):
    """Starts of the second round of ``n_init="auto"`` (0: none).

    Only where the first round was capped at :data:`AUTO_MAX_STARTS` by the
    count rather than by ``AUTO_WORK`` (small data): as many more as the work
    budget pays for, at most :data:`AUTO_EXTRA_STARTS`.

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> full = get_covariance_type("full")
    >>> auto_extra_starts(full, 272, 3, 2, 20), auto_extra_starts(full, 100_000, 10, 10, 1)
    (40, 0)
    """
    if n_init < AUTO_MAX_STARTS:
        return 0
    spare = auto_work_starts(covariance, n_samples, n_components, n_features) - n_init
    return int(max(0, min(AUTO_EXTRA_STARTS, spare)))


def rugged(restarts, tol):
    """Whether the best maximum of the starts so far was reached by only one of them.

    ``restarts``: the records of the starts (``lower_bound``, per observation,
    and ``near_singular``); a near-singular end point does not count. Two
    starts reached the same maximum when their bounds differ by at most
    ``max(RUGGED_TOL_FACTOR * tol, RUGGED_MIN_MARGIN)``. Where the best of
    many starts was found by one of them, the basins of attraction of the
    good maxima are small and a better one may not have been found yet
    (Finch, Mendell & Thode 1989 estimate the chance of an unseen basin from
    the maxima found once); where several starts agree on it, further
    starts rarely find more.

    Examples
    --------
    >>> recs = [{"lower_bound": b, "near_singular": False} for b in (-2.0, -1.5, -1.5)]
    >>> rugged(recs, 1e-3), rugged(recs[:2], 1e-3)
    (False, True)
    """
    bounds = np.array([r["lower_bound"] for r in restarts
                       if not r["near_singular"] and np.isfinite(r["lower_bound"])])
    if bounds.size == 0:
        return True
    margin = max(RUGGED_TOL_FACTOR * float(tol), RUGGED_MIN_MARGIN)
    if int(np.sum(bounds >= bounds.max() - margin)) < 2:
        return True
    bounds = np.sort(bounds)[::-1]
    new = np.r_[True, (bounds[:-1] - bounds[1:]) > margin]  # first of each maximum
    sizes = np.diff(np.r_[np.flatnonzero(new), bounds.size])
    return float(np.sum(sizes == 1)) / bounds.size >= RUGGED_SINGLETONS


def auto_work_starts(covariance, n_samples, n_components, n_features):
    """How many starts fit in ``AUTO_WORK`` (not capped at :data:`AUTO_MAX_STARTS`; may be 0).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> auto_work_starts(get_covariance_type("spherical"), 200, 8, 6)
    1785
    """
    per_start = float(n_samples) * n_components * (
        n_features + covariance.n_moment_features(n_features))
    return int(AUTO_WORK // max(per_start, 1.0))


def check_initial_parameters(covariance, n_components, n_features,
                             weights_init=None, means_init=None, precisions_init=None):
    """Validated float64 copies of the given initial parameters (None where not given).

    Raises ``ValueError``/``TypeError`` naming the argument: wrong shape,
    weights outside [0, 1] or not summing to one, non-finite values, or
    precisions that are not valid for the covariance type
    (``covariance.check_precisions``).

    Examples
    --------
    >>> from bayesgmm.covariance import get_covariance_type
    >>> from bayesgmm.em._init import check_initial_parameters
    >>> check_initial_parameters(get_covariance_type("diag"), 2, 1, weights_init=[0.5, 0.6])
    Traceback (most recent call last):
    ...
    ValueError: `weights_init` must sum to 1; got sum 1.1. Divide by its sum.
    """
    k, d = n_components, n_features
    weights = means = precisions = None
    if weights_init is not None:
        weights = _as_float(weights_init, "weights_init")
        if weights.shape != (k,):
            raise ValueError(
                f"`weights_init` must have shape (n_components,) = ({k},); got "
                f"{weights.shape}."
            )
        if np.any(weights < 0) or np.any(weights > 1):
            raise ValueError(
                "`weights_init` must lie in [0, 1]; got min "
                f"{weights.min():.5g}, max {weights.max():.5g}."
            )
        if not np.isclose(weights.sum(), 1.0, rtol=0, atol=1e-8):
            raise ValueError(
                f"`weights_init` must sum to 1; got sum {weights.sum():.8g}. "
                "Divide by its sum."
            )
    if means_init is not None:
        means = _as_float(means_init, "means_init")
        if means.shape != (k, d):
            raise ValueError(
                f"`means_init` must have shape (n_components, n_features) = ({k}, {d}); "
                f"got {means.shape}."
            )
    if precisions_init is not None:
        precisions = _as_float(precisions_init, "precisions_init")
        shape = covariance.covariance_shape(k, d)
        if precisions.shape != shape:
            raise ValueError(
                f"`precisions_init` for covariance_type={covariance.name!r} must have shape "
                f"{shape}; got {precisions.shape}."
            )
        covariance.check_precisions(precisions, "precisions_init")
    return weights, means, precisions


def _as_float(a, name):
    try:
        arr = np.array(a, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(f"`{name}` must be a numeric array; got {type(a).__name__}.") from None
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` contains NaN or inf; pass finite values.")
    return arr


def initial_parameters(data, shift, rng, covariance, n_components, *, init_params, reg_covar,
                       spread, weights_init=None, means_init=None, precisions_init=None,
                       prior=None):
    """``(weights, means, covariances, precisions_chol)`` to start one initialisation.

    Given parameters are used as they are; the rest come from an M-step on
    the responsibilities of ``init_params`` (skipped when all three are
    given; with ``prior``, a resolved conjugate prior in shifted
    coordinates, its MAP M-step). With ``precisions_init``, ``covariances``
    is None.
    """
    need_resp = weights_init is None or means_init is None or precisions_init is None
    weights = means = covs = None
    if need_resp:
        stats = _initial_statistics(init_params, data, shift, rng, covariance, n_components, spread)
        weights, means, covs = _initial_m_step(stats, data, shift, covariance, reg_covar, prior)
    if weights_init is not None:
        weights = weights_init
    if means_init is not None:
        means = means_init
    if precisions_init is None:
        prec_chol = covariance.precision_cholesky(covs)
    else:
        prec_chol = covariance.precision_cholesky_from_precisions(precisions_init)
        covs = None
    return weights, means, covs, prec_chol


def _initial_m_step(stats, data, shift, covariance, reg_covar, prior):
    """``(weights, means, covariances)`` of an M-step on initial statistics."""
    if prior is None:
        nk, means_c, covs = covariance.m_step(stats, reg_covar)
    else:
        nk, means_c, covs = covariance.m_step(stats, reg_covar, prior=prior)
    weights = nk / (stats.weight if data.sample_weight is not None else data.n)
    return weights, means_c + shift, covs


def parameters_from_responsibilities(data, shift, covariance, resp, *, reg_covar, prior=None):
    """``(weights, means, covariances, precisions_chol)`` of an M-step on ``resp``.

    ``resp`` (n, k) in-memory responsibilities of ``data``'s rows; ``prior`` as
    in :func:`initial_parameters`. The start of a split-and-merge move
    (:mod:`bayesgmm.em._split_merge`).
    """
    stats = data.map_reduce(_block_stats_resp, resp, shift, covariance)
    weights, means, covs = _initial_m_step(stats, data, shift, covariance, reg_covar, prior)
    return weights, means, covs, covariance.precision_cholesky(covs)


def strategy(init_params, init, auto=False):
    """The strategy of initialisation number ``init`` (from 0) under ``init_params``.

    ``auto`` (``n_init="auto"``): ``init_params`` first, then
    :data:`AUTO_STRATEGIES` in turn.
    """
    if auto and init >= AUTO_MAX_STARTS:  # the second and later rounds (auto_extra_starts)
        return AUTO_EXTRA_STRATEGIES[(init - AUTO_MAX_STARTS) % len(AUTO_EXTRA_STRATEGIES)]
    if auto and init > 0:
        return AUTO_STRATEGIES[(init - 1) % len(AUTO_STRATEGIES)]
    return "kmeans" if init_params == "hc" and init > 0 else init_params


def _initial_statistics(init_params, data, shift, rng, covariance, k, spread):
    """Sufficient statistics (shifted coordinates) of the strategy's responsibilities."""
    n = data.n
    if init_params == "hc":
        return hierarchical_statistics(data, shift, rng, covariance, k)
    if init_params == "random":
        resp = rng.uniform(size=(n, k))
        resp /= resp.sum(axis=1)[:, None]
        return data.map_reduce(_block_stats_resp, resp, shift, covariance)
    if init_params == "random_partition":
        labels = rng.randint(0, k, size=n)
        return data.map_reduce(_block_stats_labels, labels, np.zeros((k, data.d)), shift,
                               covariance)
    if init_params == "random_from_data":
        if data.sample_weight is None:
            idx = rng.choice(n, size=k, replace=False)
        else:  # only rows that carry weight
            pos = np.flatnonzero(np.asarray(data.sample_weight) > 0)
            idx = pos[rng.choice(len(pos), size=k, replace=False)]
        return _stats_from_points(data.rows(idx) - shift, data, idx, covariance)
    labels = None if data.dask else np.empty(n, dtype=np.int64)
    unit = _feature_scale(spread) if init_params == "standardised_kmeans" else None
    with _centred_rows(data, shift, k, unit) as (rows, rows_shift, unit):
        centers, idx = _kmeans_plusplus(data, shift, rows, k, rng)
        if init_params == "k-means++":
            return _stats_from_points(centers, data, idx, covariance)
        # scikit-learn's tolerance: 1e-4 of the mean variance of the rows clustered
        tol = 1e-4 * (spread.scale if unit is None else float(np.mean(spread.var / unit**2)))
        centers = _lloyd(rows, rows_shift, centers, tol=tol, labels=labels)
    if unit is not None:
        centers = centers * unit  # back to the data's units
    if labels is None:  # dask: the blocks cannot write into one array
        return data.map_reduce(_block_stats_kmeans_resp, centers, shift, covariance)
    return data.map_reduce(_block_stats_labels, labels, centers, shift, covariance)


#: In-memory data up to this many values (rows x features) get a centred copy
#: for k-means (as scikit-learn's ``KMeans`` makes); above it the seeding uses a
#: subsample and the Lloyd iterations centre each block.
_CENTRED_COPY_VALUES = 5 * 10**7


def _feature_scale(spread):
    """Per-feature standard deviations (1 for a constant feature): the units of
    the ``"standardised_kmeans"`` start."""
    sd = np.sqrt(np.maximum(spread.var, 0.0))
    return np.where(sd > 1e-12 * max(float(sd.max()), 0.0), sd, 1.0) if sd.size else sd


@contextmanager
def _centred_rows(data, shift, k, unit=None):
    """Context: ``(rows, rows_shift, rows_unit)`` for the k-means iterations.

    For in-memory data of at most :data:`_CENTRED_COPY_VALUES` values, a
    centred copy ``X - shift`` in the engine's row blocks (same threads), so
    that no iteration subtracts the shift again (``rows_shift`` None), each
    feature divided by ``unit`` where given (``rows_unit``: ``unit``; the
    k-means centres are then in those units); otherwise the data themselves
    and ``shift``, in the data's units (``rows_unit`` None: on dask or very
    large data the standardised k-means start is the raw one).
    """
    if data.dask or data.n * data.d > _CENTRED_COPY_VALUES:
        yield data, shift, None
        return
    copy = data.X - shift
    if unit is not None:
        copy /= unit
    rows = _Data(copy, data.sample_weight, n_components=k, n_threads=data.n_threads)
    rows.allocate_workspace(k * min(rows.step, rows.n))  # for _block_lloyd
    try:
        yield rows, None, unit
    finally:
        rows.close()


class _KMStats:
    """Additive k-means statistics: per-centre weights and sums of the nearest rows,
    and how many rows changed centre."""

    def __init__(self, counts, sums, changed=0):
        self.counts, self.sums, self.changed = counts, sums, changed

    def __add__(self, other):
        return _KMStats(self.counts + other.counts, self.sums + other.sums,
                        self.changed + other.changed)




def _block_lloyd(x, w, offset, centers, shift, labels=None, work=None):
    """One block of a Lloyd iteration: weights and sums of the rows nearest each centre.

    The distances (less ``|x|^2``, the same for every centre) ``-2 C x^T``
    from one matrix product into ``work`` (a reused buffer of at least ``K n``
    values), then one compiled pass for the nearest centre, its weight and
    sum (:func:`~bayesgmm.em._kmeans.nearest_centres_blas`; a tie goes to the
    first centre). ``labels``: a global array that receives the block's
    nearest centres (at ``offset``).
    """
    lab = None if labels is None else labels[offset : offset + x.shape[0]]
    counts, sums, changed = nearest_centres_blas(x, shift, centers, w, labels=lab, work=work)
    return _KMStats(counts, sums, changed)


def _block_stats_kmeans_resp(x, w, offset, centers, shift, covariance):
    """One block's statistics of the assignments to the nearest of ``centers``."""
    d = (x - shift) @ (-2.0 * centers.T)
    d += np.einsum("kd,kd->k", centers, centers)
    lab = np.argmin(d, axis=1)
    return _kernels.label_statistics(x, lab, centers, covariance, sample_weight=w, shift=shift)


def _block_stats_labels(x, w, offset, labels, centres, shift, covariance):
    """One block's statistics of given hard labels (moments about ``centres``).

    :func:`bayesgmm._kernels.label_statistics` without its sort: each row
    centred on its own component's centre in one compiled pass, the type's
    moment features of the chunk, and their per-label sums in another
    (:mod:`bayesgmm.em._kmeans`); chunks of the E/M-step size bound the memory.
    """
    n, d = x.shape
    k = centres.shape[0]
    lab = labels[offset : offset + n]
    m2 = covariance.n_moment_features(d)
    step = _kernels._em_chunk_size(n, d, k, covariance)
    srz = np.zeros((k, m2 + d + 1))
    for s in range(0, n, step):
        xc = centred_on_labels(x[s : s + step], shift, centres, lab[s : s + step])
        zt = _kernels._moment_features_t(xc, None, covariance, m2)
        srz += label_sums(zt, lab[s : s + step], k, None if w is None else w[s : s + step])
    return _kernels.SufficientStatistics(
        srz[:, -1].copy(), srz[:, m2:-1].copy(), covariance.second_moments(srz[:, :m2], d),
        0.0, float(n if w is None else np.sum(w)), n, centre=centres,
    )


def _block_stats_resp(x, w, offset, resp, shift, covariance):
    r = resp[offset : offset + x.shape[0]]
    return _kernels.accumulate_statistics(
        x, covariance, resp=r, sample_weight=w, shift=shift
    )


def _stats_from_points(points_c, data, idx, covariance):
    """Statistics of one-hot responsibilities at rows ``idx`` (one per component).

    Like scikit-learn's ``random_from_data``/``k-means++`` initialisations:
    each component gets exactly one observation (so its covariance starts at
    ``reg_covar`` times the identity).
    """
    k = points_c.shape[0]
    w = None if data.sample_weight is None else np.asarray(data.sample_weight)[idx]
    st = _kernels.label_statistics(points_c, np.arange(k), points_c, covariance, sample_weight=w)
    st.weight = float(data.n if data.sample_weight is None else np.sum(data.sample_weight))
    st.n = data.n
    return st


def _kmeans_plusplus(data, shift, rows, k, rng):
    """k-means++ seeding (Arthur & Vassilvitskii 2007) with greedy local trials.

    scikit-learn's ``kmeans_plusplus``: the first centre uniformly at random
    (in proportion to ``sample_weight``; unweighted, one ``randint``, the
    draw this package has always made, so a seed keeps its fit), then ``2 + log(k)`` candidates drawn
    in proportion to the squared distance to the nearest centre so far, the
    one that most reduces the potential kept. On the centred in-memory copy
    (``rows``, a :class:`~bayesgmm.em._engine._Data` without shift) when there
    is one, otherwise (dask, or more than :data:`_CENTRED_COPY_VALUES`
    values) on a random subsample of at most 20,000 (dask) or 200,000 rows.
    The candidates' potentials are one compiled pass over the rows
    (:mod:`bayesgmm.em._kmeans`), block by block on the engine's threads;
    a candidate is drawn by finding its block from the blocks' potentials,
    then its row by a running sum over that block alone
    (:func:`_draw_proportional`); the chosen candidate's distances become
    the new nearest-centre distances on the worker threads, at the start of
    the next round (:func:`_block_trials`).
    Returns (centers in shifted coordinates, global row indices).
    """
    own = rows is data
    if not own:
        sub_idx, X, w = None, rows.X, data.sample_weight
        blocks = rows
    else:
        m = min(data.n, 20000 if data.dask else 200000)
        sub_idx = np.sort(rng.choice(data.n, size=m, replace=False))
        X = data.rows(sub_idx) - shift
        w = None if data.sample_weight is None else np.asarray(data.sample_weight)[sub_idx]
        blocks = _Data(X, w, n_components=k, n_threads=1 if data.dask else data.n_threads)
    n = X.shape[0]
    n_trials = 2 + int(np.log(k))
    first = rng.randint(n) if w is None else rng.choice(n, p=w / w.sum())
    idx = [first]
    # squared distances to the nearest centre so far (weighted), computed
    # directly (no |x|^2 - 2 x.c + |c|^2 cancellation) in one compiled pass
    closest = np.full(n, np.inf)
    ends = [int(s) for s in blocks.offsets[1:]] + [n]
    spans = [slice(int(s), e) for s, e in zip(blocks.offsets, ends)]
    # each block's candidate distances: a buffer per block, reused every round
    dist = {sl.start: np.empty((n_trials, sl.stop - sl.start)) for sl in spans}
    try:
        block_pot = np.array(blocks.map_blocks(_block_closest, X[first], closest))
        current = [closest[sl] for sl in spans]  # each block's distances to the centres so far
        best = -1  # the row of ``dist`` that holds them (-1: ``closest`` does)
        for _ in range(1, k):
            pot = float(np.sum(block_pot))
            if pot <= 0:
                cand = rng.randint(n, size=n_trials)
            else:
                cand = _draw_proportional(current, spans, block_pot, rng.uniform(size=n_trials) * pot)
            pots = np.array(blocks.map_blocks(_block_trials, X[cand], closest, dist, best))
            best = int(np.argmin(pots.sum(axis=0)))
            idx.append(int(cand[best]))
            current = [dist[sl.start][best] for sl in spans]
            block_pot = pots[:, best]
    finally:
        if own:
            blocks.close()
    idx = np.asarray(idx)
    centers = X[idx].copy()
    glob = idx if sub_idx is None else sub_idx[idx]
    return centers, glob


def _block_closest(x, w, offset, centre, closest):
    """One block of :func:`~bayesgmm.em._kmeans.update_closest` (``closest``: all rows)."""
    return update_closest(x, centre, closest[offset : offset + x.shape[0]], w)


def _block_trials(x, w, offset, trial, closest, dist, best):
    """One block's candidate potentials; the distances go to ``dist[offset]``.

    ``best``: the row of ``dist[offset]`` chosen in the previous round, first
    copied into the block's part of ``closest`` (here, on the worker thread,
    where the block's rows are about to be read anyway), or -1 when
    ``closest`` is already current.
    """
    mine = closest[offset : offset + x.shape[0]]
    if best >= 0:
        np.copyto(mine, dist[offset][best])
    return trial_potentials(x, trial, mine, w, dist[offset])


def _draw_proportional(current, spans, block_pot, targets):
    """Rows at the cumulative ``targets`` of the per-row potentials
    (``searchsorted`` of their cumulative sum over all rows).

    ``current``: each block's per-row potentials (in the order of ``spans``).
    Two levels: the block whose cumulative potential first reaches the target,
    then the row within that block, by a compiled running sum over that block
    alone (:func:`~bayesgmm.em._kmeans.first_reaching`: the same sums, in the
    same order, as ``numpy.cumsum``, without building the cumulative array).
    """
    cum = np.cumsum(block_pot)
    out = np.empty(len(targets), dtype=np.int64)
    for j, t in enumerate(targets):
        b = min(int(np.searchsorted(cum, t)), len(spans) - 1)
        out[j] = spans[b].start + first_reaching(current[b], t - (cum[b - 1] if b else 0.0))
    return out


def _lloyd(rows, shift, centers, max_iter=300, tol=1e-4, labels=None):
    """Lloyd iterations as a map-reduce over ``rows``; returns centers (shifted coordinates).

    ``shift``: subtracted from each block first (None for the centred copy).
    Stops when the centers move by at most ``tol`` (squared Euclidean,
    summed), scikit-learn's criterion with ``tol`` already scaled by the data
    variance. ``labels`` (in-memory rows only): filled with each row's
    nearest final centre -- by one more pass, as scikit-learn's ``KMeans``
    makes, unless no row changed centre in the last iteration (then the
    centres are the means of their rows and the labels already final).
    """
    for it in range(max_iter):
        st = rows.map_reduce(_block_lloyd, centers, shift, labels, workspace=True)
        new = centers.copy()
        nz = st.counts > 0
        new[nz] = st.sums[nz] / st.counts[nz, None]
        moved = np.sum((new - centers) ** 2)
        centers = new
        # the kernel counts the rows whose label changed (the first pass
        # overwrites an unset array: its count means nothing)
        if labels is not None and it > 0 and st.changed == 0:
            return centers  # strict convergence: the labels are final
        if moved <= tol:
            break
    if labels is not None:
        rows.map_reduce(_block_lloyd, centers, shift, labels, workspace=True)
    return centers
