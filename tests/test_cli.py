"""Tests of the command line interface."""

import re

import pytest

from bayesgmm.cli import main


def test_demo_em_only_prints_em_table_matching_mclust(capsys):
    assert main(["demo", "--em-only", "--quiet", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "Old Faithful: 272 eruptions" in out
    # R: mclust::Mclust(faithful, G = 2, modelNames = "VVV")$bic == -2322.192
    row = re.search(r"^2\s+(-?[\d.]+)\s+([\d.]+)\s+([\d.]+)\s+True", out, re.M)
    assert row is not None, out
    assert float(row.group(2)) == pytest.approx(2322.192, abs=2e-3)
    assert "BIC prefers K=2" in out
    # EM components of K=2 (mclust: weights 0.644/0.356, means 4.29/79.97 and 2.04/54.48)
    assert re.search(r"0\.644\s+4\.290\s+79\.970", out) or re.search(r"0\.644\s+4\.290\s+79\.97", out)


def test_usage_errors():
    with pytest.raises(SystemExit) as e:
        main(["demo", "--seed", "notanint"])
    assert e.value.code == 2
    with pytest.raises(SystemExit):
        main(["nonsense"])
    assert main([]) == 2


@pytest.mark.slow
def test_demo_quick_runs_em_and_posterior(capsys):
    assert main(["demo", "--quick", "--quiet", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert "--- Posterior, K=2: NUTS" in out
    assert "max R-hat" in out
    # posterior summary rows for the weights, with means near the EM values
    row = re.search(r"^weights\[0\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    assert row is not None, out
    mean, sd, lo, hi = map(float, row.groups())
    assert min(abs(mean - 0.644), abs(mean - 0.356)) < 0.03  # EM: 0.644 / 0.356
    assert lo < mean < hi and 0 < sd < 0.05
    m = re.search(r"Memberships: (\d+) of 272 eruptions .*; (\d+) (?:is|are) uncertain", out)
    assert m is not None and int(m.group(1)) + int(m.group(2)) == 272
    assert 250 <= int(m.group(1)) <= 271  # most eruptions are clearly in one regime
    assert "The most ambiguous" in out and "interval" in out
