"""``n_init="auto"``, the start strategies and failed starts (issue 12)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bayesgmm import GaussianMixture
from bayesgmm.covariance import get_covariance_type
from bayesgmm.em import _init
from bayesgmm.em._estimator import GaussianMixture as _GM
from bayesgmm.exceptions import DegenerateComponentWarning, SingularCovarianceError


def _blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]])
    return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, 2))


def test_auto_runs_many_starts_on_small_data_and_one_on_large():
    full = get_covariance_type("full")
    assert _init.auto_n_init(full, 272, 3, 2) == _init.AUTO_MAX_STARTS
    assert _init.auto_n_init(full, 100_000, 10, 10) == 1
    assert _init.auto_n_init(get_covariance_type("diag"), 100_000, 10, 10) == 1
    # in between: the work budget over one start's work
    per_start = 20_000 * 4 * (5 + full.n_moment_features(5))
    assert _init.auto_n_init(full, 20_000, 4, 5) == int(_init.AUTO_WORK // per_start)
    gm = GaussianMixture(3, random_state=0).fit(_blobs())
    # one round (the starts agree) and the probe's unit-free starts
    assert gm.n_init == "auto" and gm.n_init_ == _init.AUTO_MAX_STARTS + _init.AUTO_PROBE_STARTS


def test_auto_is_one_start_with_given_parameters_or_a_warm_start():
    X = _blobs()
    gm = GaussianMixture(3, means_init=[[0, 0], [4, 0], [0, 4]], random_state=0).fit(X)
    assert gm.n_init_ == 1
    gm.set_params(warm_start=True).fit(X)
    assert gm.n_init_ == 1
    assert GaussianMixture(3, n_init=4, random_state=0).fit(X).n_init_ == 4


def test_auto_starts_cycle_through_the_strategies():
    kinds = [_init.strategy("kmeans", i, auto=True) for i in range(7)]
    assert kinds == ["kmeans", *_init.AUTO_STRATEGIES, *_init.AUTO_STRATEGIES[:3]]
    # an integer n_init repeats init_params (hc: the agglomeration once, then k-means)
    assert [_init.strategy("hc", i) for i in range(3)] == ["hc", "kmeans", "kmeans"]
    assert [_init.strategy("random", i) for i in range(2)] == ["random", "random"]


def test_auto_reaches_the_better_maximum_that_one_kmeans_start_misses():
    # Old Faithful (mclust's data), full covariances, 4 components: one
    # k-means start ends below the maximum that the auto starts reach
    from bayesgmm.datasets import load_old_faithful

    X = np.asarray(load_old_faithful(), dtype=float)
    # (the starts alone: split_merge=0; the moves are test_em_split_merge's)
    one = GaussianMixture(4, n_init=1, tol=1e-5, max_iter=2000, random_state=0).fit(X)
    auto = GaussianMixture(4, tol=1e-5, max_iter=2000, split_merge=0, random_state=0).fit(X)
    assert auto.lower_bound_ * len(X) > one.lower_bound_ * len(X) + 0.5
    assert auto.degenerate_components_.size == 0


@pytest.mark.filterwarnings("ignore::bayesgmm.exceptions.ConvergenceWarning")  # max_iter=5
@pytest.mark.parametrize("ct", ["full", "tied", "diag", "spherical"])
def test_random_partition_start_is_seeded_and_equal_on_dask(ct):
    da = pytest.importorskip("dask.array")
    X = _blobs(300)
    a = GaussianMixture(3, covariance_type=ct, init_params="random_partition", n_init=1,
                        random_state=3, max_iter=5).fit(X)
    b = GaussianMixture(3, covariance_type=ct, init_params="random_partition", n_init=1,
                        random_state=3, max_iter=5).fit(da.from_array(X, chunks=70))
    np.testing.assert_allclose(a.means_, b.means_, rtol=1e-10, atol=1e-12)
    assert a.n_iter_ == 5
    # the first M-step of a random partition: every component near the data mean
    c = GaussianMixture(3, covariance_type=ct, init_params="random_partition", n_init=1,
                        random_state=3, max_iter=0).fit(X)
    assert np.abs(c.means_ - X.mean(axis=0)).max() < 0.5 * X.std(axis=0).max()


def test_random_partition_is_not_stopped_at_the_saddle_by_the_default_tol():
    X = _blobs(300)
    gm = GaussianMixture(3, init_params="random_partition", n_init=1, random_state=0).fit(X)
    assert gm.n_iter_ >= _init.MIN_ITERATIONS["random_partition"]


def test_a_start_with_a_singular_covariance_fails_and_the_others_go_on(monkeypatch):
    X = _blobs()
    real = _GM._run_start
    calls = []

    def first_fails(self, *args):
        calls.append(1)
        if len(calls) == 1:
            raise SingularCovarianceError("component 0 is singular")
        return real(self, *args)

    monkeypatch.setattr(_GM, "_run_start", first_fails)
    gm = GaussianMixture(3, n_init=3, random_state=0).fit(X)
    assert len(calls) == 3 and np.isfinite(gm.lower_bound_)


def test_every_start_singular_raises_the_error(monkeypatch):
    def always(self, *args):
        raise SingularCovarianceError("component 0 is singular")

    monkeypatch.setattr(_GM, "_run_start", always)
    with pytest.raises(ValueError, match="singular"):
        GaussianMixture(3, n_init=3, random_state=0).fit(_blobs())


def _noisy_start(monkeypatch, which, message, lower_bound):
    """Make start number ``which`` (from 1) warn ``message`` and end with ``lower_bound``."""
    real = _GM._run_start
    calls = []

    def run(self, *args):
        calls.append(1)
        out = real(self, *args)
        if len(calls) == which:
            warnings.warn(message, DegenerateComponentWarning, stacklevel=2)
            params, _, n_iter, history, converged = out
            return params, lower_bound, n_iter, history, converged
        return out

    monkeypatch.setattr(_GM, "_run_start", run)


def test_only_the_kept_starts_warnings_reach_the_user(monkeypatch):
    X = _blobs()
    _noisy_start(monkeypatch, 1, "start one re-seeded", -np.inf)  # warns and ends worst
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        GaussianMixture(3, n_init=2, random_state=0).fit(X)
    assert not [w for w in rec if "start one" in str(w.message)]

    monkeypatch.undo()
    _noisy_start(monkeypatch, 2, "start two re-seeded", 1e9)  # warns and is kept
    with pytest.warns(DegenerateComponentWarning, match="start two"):
        GaussianMixture(3, n_init=2, random_state=0).fit(X)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "many", True])
def test_n_init_must_be_auto_or_a_positive_integer(bad):
    with pytest.raises(ValueError, match=r'`n_init` must be "auto" or an integer >= 1'):
        GaussianMixture(2, n_init=bad).fit(_blobs())


def test_standardised_kmeans_start_does_not_depend_on_the_units():
    # the auto starts' k-means runs on the features divided by their standard
    # deviations: the same partition whatever the units (raw k-means on Old
    # Faithful splits along `waiting`, whose spread is 12x that of `eruptions`)
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.datasets import load_old_faithful
    from bayesgmm.em._degeneracy import DataSpread
    from bayesgmm.em._engine import open_data

    X = np.asarray(load_old_faithful(), dtype=float)
    cov = get_covariance_type("EVV")
    out = []
    for unit in ([1.0, 1.0], [1.0, 1 / 60.0], [1e6, 1e-3]):
        Z = X * unit
        with open_data(Z, None, 3, 6) as data:
            shift = data.mean()
            st = _init._initial_statistics("standardised_kmeans", data, shift, np.random.RandomState(4),
                                           cov, 3, DataSpread(data, shift))
        out.append((st.nk, (st.sx / st.nk[:, None] + shift) / unit))
    for nk, means in out[1:]:
        np.testing.assert_array_equal(nk, out[0][0])
        np.testing.assert_allclose(means, out[0][1], rtol=1e-9)
    assert "standardised_kmeans" in _init.AUTO_EXTRA_STRATEGIES


def _records(bounds, singular=()):
    return [{"lower_bound": b, "near_singular": i in singular} for i, b in enumerate(bounds)]


def test_rugged_counts_the_starts_at_the_best_maximum_and_the_lone_maxima():
    # the best found twice and no lone maxima: not rugged
    assert not _init.rugged(_records([-1.0, -1.0, -1.2, -1.2]), tol=1e-8)
    # the best found once: rugged
    assert _init.rugged(_records([-1.0, -1.1, -1.1, -1.2, -1.2]), tol=1e-8)
    # the best found twice, but half the starts at maxima no other start reached
    assert _init.rugged(_records([-1.0, -1.0, -1.1, -1.2, -1.3, -1.4]), tol=1e-8)
    assert not _init.rugged(_records([-1.0, -1.0, -1.1, -1.2, -1.3, -1.3]), tol=1e-8)
    # "the same maximum": within max(10 tol, 1e-5) per observation
    assert not _init.rugged(_records([-1.0, -1.0 - 5e-6]), tol=1e-8)
    assert _init.rugged(_records([-1.0, -1.0 - 2e-5]), tol=1e-8)
    assert not _init.rugged(_records([-1.0, -1.0 - 5e-3]), tol=1e-3)
    # a near-singular end point does not count, nor one that is not finite
    assert _init.rugged(_records([-0.5, -1.0, -1.0 - 2e-5], singular={1}), tol=1e-8)
    assert not _init.rugged(_records([-0.5, -1.0, -1.0], singular={0}), tol=1e-8)
    assert not _init.rugged(_records([-np.inf, -1.0, -1.0]), tol=1e-8)
    assert _init.rugged([], tol=1e-8)


def test_auto_extra_starts_only_where_the_first_round_was_capped_by_the_count():
    from bayesgmm.covariance import get_covariance_type

    full = get_covariance_type("full")
    cap = _init.AUTO_MAX_STARTS
    assert _init.auto_extra_starts(full, 272, 3, 2, cap) == _init.AUTO_EXTRA_STARTS
    assert _init.auto_extra_starts(full, 272, 3, 2, cap - 1) == 0  # capped by the work
    assert _init.auto_extra_starts(full, 100_000, 10, 10, 1) == 0
    # the work budget bounds the later rounds too
    work = _init.auto_work_starts(full, 20_000, 4, 3)
    assert cap < work < cap + _init.AUTO_EXTRA_STARTS
    assert _init.auto_extra_starts(full, 20_000, 4, 3, cap) == work - cap


def test_a_rugged_fit_runs_more_rounds_of_starts_and_an_easy_one_does_not(monkeypatch):
    from bayesgmm.em import _estimator

    rng = np.random.default_rng(0)
    # uniform data: no clusters, many maxima, each found by one start
    U = rng.uniform(size=(60, 2))
    seen = []
    real = _estimator.strategy
    monkeypatch.setattr(_estimator, "strategy",
                        lambda p, i, auto=False: seen.append(real(p, i, auto)) or seen[-1])
    gm = GaussianMixture(4, tol=1e-6, split_merge=0, random_state=0).fit(U)
    cap, extra = _init.AUTO_MAX_STARTS, _init.AUTO_EXTRA_STARTS
    assert gm.n_init_ == cap + extra == len(seen)
    assert seen[0] == "kmeans" and set(seen[1:cap]) == set(_init.AUTO_STRATEGIES)
    assert set(seen[cap:]) == set(_init.AUTO_EXTRA_STRATEGIES)
    assert "kmeans" in _init.AUTO_STRATEGIES
    assert "standardised_kmeans" in _init.AUTO_EXTRA_STRATEGIES
    # three separated groups: every start ends at the one maximum, one round
    B = np.concatenate([rng.normal(c, 0.1, size=(30, 2)) for c in ([0, 0], [5, 0], [0, 5])])
    # (and the probe's unit-free starts, which find nothing higher there)
    assert GaussianMixture(3, tol=1e-6, random_state=0).fit(B).n_init_ == (
        cap + _init.AUTO_PROBE_STARTS)
    # an integer n_init is exactly that many starts
    assert GaussianMixture(4, n_init=3, tol=1e-6, split_merge=0, random_state=0).fit(U).n_init_ == 3
    # the later rounds follow the first's verdict: stopped after one round when it says so
    monkeypatch.setattr(_estimator, "rugged", lambda restarts, tol: len(restarts) < cap + 1)
    assert GaussianMixture(4, tol=1e-6, split_merge=0, random_state=0).fit(U).n_init_ == 2 * cap


@pytest.mark.filterwarnings("ignore::bayesgmm.exceptions.DegenerateComponentWarning")
def test_later_rounds_only_improve_on_the_first(monkeypatch):
    """The first round (its starts and moves) is the fit of one round, bit for bit;
    a later round's result is kept only when it ends higher."""
    from bayesgmm.em import _estimator

    rng = np.random.default_rng(1)
    U = rng.uniform(size=(60, 2))
    kw = {"tol": 1e-6, "random_state": 0}
    full = GaussianMixture(4, **kw).fit(U)
    assert full.n_init_ > _init.AUTO_MAX_STARTS  # a rugged fit: more rounds ran
    monkeypatch.setattr(_estimator, "auto_extra_starts", lambda *a: 0)
    first = GaussianMixture(4, **kw).fit(U)
    assert first.n_init_ == _init.AUTO_MAX_STARTS
    assert full.lower_bound_ >= first.lower_bound_
    # the first round's end points are the same, in the same order
    n = len(first._restarts)
    assert [r["lower_bound"] for r in full._restarts[:n]] == [r["lower_bound"]
                                                             for r in first._restarts]
    for a, b in zip(full._restarts[:n], first._restarts):
        np.testing.assert_array_equal(a["means"], b["means"])
    # where the first round's starts agree, the fit is the one-round fit
    B = np.concatenate([rng.normal(c, 0.1, size=(30, 2)) for c in ([0, 0], [5, 0], [0, 5])])
    monkeypatch.undo()
    easy = GaussianMixture(3, **kw).fit(B)
    assert easy.n_init_ == _init.AUTO_MAX_STARTS + _init.AUTO_PROBE_STARTS


def test_the_probe_finds_what_the_units_hid_and_the_later_rounds_follow(monkeypatch):
    """Old Faithful, EVV with three components (issue 15's last missed cell): the
    first round's 20 starts agree below mclust's best (raw k-means splits along
    ``waiting``, whose spread is 12x that of ``eruptions``); the probe's k-means
    on the standardised features ends at mclust's -1124.127, and the later
    rounds run."""
    from bayesgmm.datasets import load_old_faithful
    from bayesgmm.em import _estimator

    X = np.asarray(load_old_faithful(), dtype=float)
    seen = []
    real = _estimator.strategy
    monkeypatch.setattr(_estimator, "strategy",
                        lambda p, i, auto=False: seen.append(real(p, i, auto)) or seen[-1])
    kw = {"covariance_type": "EVV", "tol": 1e-5, "max_iter": 1000, "split_merge": 0,
          "random_state": 0}
    gm = GaussianMixture(3, **kw).fit(X)
    cap, probe = _init.AUTO_MAX_STARTS, _init.AUTO_PROBE_STARTS
    first = [r["lower_bound"] * len(X) for r in gm._restarts[:cap]]
    assert not _init.rugged(gm._restarts[:cap], kw["tol"]) and max(first) < -1125.6
    assert gm.lower_bound_ * len(X) > -1124.127 - 0.05
    # the probe's starts are not numbered strategies: the strategy() calls are the
    # first round's and the later rounds' (all the extra starts but the probe's)
    assert cap + probe < gm.n_init_ <= cap + _init.AUTO_EXTRA_STARTS
    assert len(seen) == gm.n_init_ - probe
    assert set(seen[cap:]) == set(_init.AUTO_EXTRA_STRATEGIES)
    # without the probe the fit stops at the first round's maximum
    monkeypatch.setattr(_estimator, "AUTO_PROBE_STARTS", 0)
    monkeypatch.setattr(_estimator, "strategy", real)
    one = GaussianMixture(3, **kw).fit(X)
    assert one.n_init_ == cap and one.lower_bound_ * len(X) < -1125.6
