"""One naming and one set of interval defaults across summary() and compare_em() (issue 17).

``summary()`` and ``compare_em()`` must label every parameter the same way
(correlation pairs as ``correlations[k, a:b]``, once per pair, feature names kept
as given, '/' included), and both take their interval from ArviZ's rcParams unless
told otherwise.
"""

import warnings

import numpy as np
import pytest
from test_plots import _make_tree

import bayesgmm as bg


@pytest.fixture(scope="module")
def model():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree, _ = _make_tree(D=3, names=["od280/od315", "c d", "e"])
    m = bg.BayesianGMM(3)
    m.idata_ = tree
    return m


@pytest.mark.parametrize("var", ["weights", "means", "sds", "correlations"])
def test_summary_and_compare_em_name_every_parameter_alike(model, var):
    from_summary = [str(s) for s in model.summary(var_names=[var]).index]
    from_compare = [str(s) for s in model.compare_em(var_names=[var])["parameter"].values]
    assert from_summary == from_compare
    if var == "correlations":  # each free pair once, 'a:b', original names
        assert from_summary[:3] == ["correlations[0, od280/od315:c d]",
                                    "correlations[0, od280/od315:e]", "correlations[0, c d:e]"]
        assert len(from_summary) == 3 * 3


def test_summary_and_compare_em_read_arviz_interval_defaults(model):
    from arviz_base import rc_context

    def summary_width(**kw):
        s = model.summary(var_names=["weights"], kind="stats", **kw)
        lo, hi = [c for c in s.columns if c.startswith(("eti", "hdi"))][:2]
        return float((s[hi] - s[lo]).iloc[0]), lo

    def compare_width(**kw):
        c = model.compare_em(var_names=["weights"], **kw)
        return float(c["upper"][0] - c["lower"][0]), c.attrs

    default_s, lo = summary_width()
    default_c, attrs = compare_width()
    assert lo.startswith("eti") and attrs["ci_prob"] == pytest.approx(0.89)
    with rc_context({"stats.ci_prob": 0.5}):
        narrow_s, _ = summary_width()
        narrow_c, attrs = compare_width()
    assert attrs["ci_prob"] == pytest.approx(0.5)
    assert narrow_s < default_s and narrow_c < default_c
    # an explicit ci_prob wins over the rcParams
    with rc_context({"stats.ci_prob": 0.5}):
        assert compare_width(ci_prob=0.89)[0] == pytest.approx(default_c)
        assert summary_width(ci_prob=0.89)[0] == pytest.approx(default_s)
    assert np.isfinite([default_s, default_c]).all()
