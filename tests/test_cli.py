"""Tests of the command line interface.

Every command runs end to end in a subprocess (``python -m bayesgmm.cli``) with
tiny settings. The error paths (exit status, and a one-line message on stderr
without a Python traceback) run ``main(argv)`` in this process
(:func:`run_cli_in_process`: the same exit status and output, without the ~4 s of a
fresh interpreter importing PyMC); ``test_error_paths_in_a_real_process`` checks
that a subprocess gives the same for one case of each command.
"""

import contextlib
import io
import os
import re
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from bayesgmm.cli import COMPARE_COLUMNS, _memberships_line, _table, compare_table, main, parse_component_range


def run_cli(*args, cwd=None, timeout=300):
    env = dict(os.environ, PYTHONWARNINGS="ignore::DeprecationWarning")
    proc = subprocess.run(
        [sys.executable, "-m", "bayesgmm.cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, env=env,
    )
    return proc


def run_cli_in_process(*args, cwd=None):
    """``main(argv)`` in this process, as a :class:`subprocess.CompletedProcess`.

    Exit status (argparse's ``SystemExit`` included), stdout and stderr as
    ``run_cli`` would give them; an exception that escapes ``main`` (a traceback in
    a real process) fails the test where it is raised.
    """
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with warnings.catch_warnings(), contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            warnings.simplefilter("ignore", DeprecationWarning)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(list(args), code, out.getvalue(), err.getvalue())


def assert_clean_error(proc, code, *needles):
    """Exit status ``code``, every needle on stderr, and no traceback anywhere."""
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout, proc.stderr
    for needle in needles:
        assert needle in proc.stderr, (needle, proc.stderr)
    errors = [line for line in proc.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1, proc.stderr  # one line


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    import bayesgmm as bg

    d = tmp_path_factory.mktemp("cli")
    X = bg.datasets.load_old_faithful()
    X.to_csv(d / "faithful.csv", index=False)
    mixed = X.copy()
    mixed.insert(0, "id", [f"e{i}" for i in range(len(X))])
    mixed["site"] = "yellowstone"
    mixed.loc[5, "waiting"] = np.nan
    mixed.to_csv(d / "mixed.csv", index=False)
    typo = X.astype(object)
    typo.loc[7, "waiting"] = "7o"
    typo.to_csv(d / "typo.csv", index=False)
    (d / "empty.csv").write_text("")
    (d / "semicolon.csv").write_text("a;b\n1;2\n3;4\n5;7\n")
    X.to_csv(d / "with_index.csv")  # pandas' default: an unnamed first column of labels
    (d / "not_a_fit.nc").write_text("eruptions,waiting\n1,2\n")
    return d


@pytest.fixture(scope="module")
def nuts_fit(data_dir):
    """One tiny NUTS fit (2 chains x 40 draws) shared by the fit and report tests."""
    out = data_dir / "fit.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "--components", "2", "--columns", "waiting,eruptions",
                   "--draws", 40, "--tune", 40, "--chains", 2, "--seed", 3, "--quiet", "--strict",
                   "--out", out)
    return proc, out


# ------------------------------------------------------------------ global options
def test_version_and_help():
    from bayesgmm import __version__

    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"bayesgmm {__version__}"
    proc = run_cli("--help")
    assert proc.returncode == 0
    for command in ("demo", "fit", "select", "report"):
        assert command in proc.stdout
    assert "exit status" in proc.stdout and "130" in proc.stdout
    proc = run_cli()  # no command: help and usage error
    assert proc.returncode == 2 and "COMMAND" in proc.stdout


def test_usage_errors():
    with pytest.raises(SystemExit) as e:
        main(["demo", "--seed", "notanint"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        main(["nonsense"])
    assert e.value.code == 2
    assert main([]) == 2


def test_parse_component_range():
    assert parse_component_range("1-6") == [1, 2, 3, 4, 5, 6]
    assert parse_component_range(" 4 ") == [4]
    assert parse_component_range("2,5,3-4,5") == [2, 3, 4, 5]
    import argparse

    for bad, why in [("6-1", "low 6 > high 1"), ("0-3", ">= 1"), ("a", "expected"), ("1,,2", "expected"),
                     ("", "expected"), ("2-x", "expected")]:
        with pytest.raises(argparse.ArgumentTypeError, match=re.escape(why)):
            parse_component_range(bad)


# ------------------------------------------------------------------ demo
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
    comp = re.search(r"^\d\s+(0\.644)\s+(4\.\d+)\s+(79\.\d+)", out, re.M)
    assert comp is not None, out
    assert float(comp.group(2)) == pytest.approx(4.29, abs=5e-3)
    assert float(comp.group(3)) == pytest.approx(79.97, abs=5e-3)


def test_demo_subprocess_global_options_before_and_after(tmp_path):
    # global options before the command; test_demo_em_only_... passes them after it
    a = run_cli("--quiet", "--seed", "1", "demo", "--em-only", cwd=tmp_path)
    assert a.returncode == 0, a.stderr
    assert "BIC prefers K=2" in a.stdout and "Traceback" not in a.stderr
    assert "seconds" not in a.stdout  # --quiet drops the timings
    assert not (tmp_path / "bayesgmm-demo").exists()  # --em-only writes no plots


def test_memberships_line_agrees_with_the_counts():
    one = _memberships_line(271, 272, "eruptions")
    assert one.endswith("; 1 is uncertain.") and "271 of 272 eruptions belong to one" in one
    assert _memberships_line(270, 272, "eruptions").endswith("; 2 are uncertain.")
    assert _memberships_line(272, 272, "eruptions").endswith("; 0 are uncertain.")
    assert "1 of 2 observations belongs to one" in _memberships_line(1, 2, "observations")
    for n in range(4):
        assert "1 are" not in _memberships_line(n, 3, "eruptions")


def test_compare_table_has_parameter_rows_and_no_variable_column():
    import xarray as xr

    from bayesgmm.posterior import compare_em

    rng = np.random.default_rng(0)
    K, D, S = 2, 2, 50
    post = xr.Dataset({
        "weights": (("chain", "draw", "component"), np.full((1, S, K), 0.5)),
        "means": (("chain", "draw", "component", "feature"), rng.normal(0.0, 0.1, (1, S, K, D))),
        "covariances": (("chain", "draw", "component", "feature", "feature_bis"),
                        np.broadcast_to(np.eye(D), (1, S, K, D, D)).copy()),
    }, coords={"feature": ["eruptions", "waiting"], "feature_bis": ["eruptions", "waiting"]})
    em = xr.Dataset({
        "weights": ("component", [0.5, 0.5]),
        "means": (("component", "feature"), np.zeros((K, D))),
        "covariances": (("component", "feature", "feature_bis"), np.broadcast_to(np.eye(D), (K, D, D)).copy()),
    }, coords={"feature": ["eruptions", "waiting"], "feature_bis": ["eruptions", "waiting"]})
    cmp = compare_em(post, em, var_names=["weights", "means", "sds"])
    assert "variable" in cmp.coords  # the raw to_dataframe() would carry it as a column
    table = compare_table(cmp)
    assert list(table.columns) == list(COMPARE_COLUMNS)
    assert list(table.index[:3]) == ["weights[0]", "weights[1]", "means[0, eruptions]"]
    assert len(table) == K + 2 * K * D
    text = _table(table).splitlines()
    assert text[0].split() == list(COMPARE_COLUMNS)  # one header line: no index name, no variable
    assert text[1].split()[0] == "weights[0]"
    assert "variable" not in "\n".join(text)


@pytest.mark.slow
def test_demo_quick_runs_em_and_posterior_and_writes_plots(capsys, tmp_path):
    out_dir = tmp_path / "demo-out"
    assert main(["demo", "--quick", "--quiet", "--seed", "0", "--out", str(out_dir)]) == 0
    out = capsys.readouterr().out
    assert "--- Posterior, K=2: NUTS" in out
    assert "max R-hat" in out
    # posterior summary rows for the weights, with means near the EM values
    row = re.search(r"^weights\[0\]\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)", out, re.M)
    assert row is not None, out
    mean, sd, lo, hi = map(float, row.groups())
    assert min(abs(mean - 0.644), abs(mean - 0.356)) < 0.03  # EM: 0.644 / 0.356
    assert lo < mean < hi and 0 < sd < 0.05
    m = re.search(r"Memberships: (\d+) of 272 eruptions .*; (\d+) (is|are) uncertain", out)
    assert m is not None and int(m.group(1)) + int(m.group(2)) == 272
    assert (m.group(3) == "is") == (m.group(2) == "1")
    assert not re.search(r"\b1 are\b", out)
    # the EM-vs-posterior table: parameter rows, no `variable` column
    i = out.index("EM vs posterior")
    table_lines = out[i:].splitlines()[1:]
    assert table_lines[0].split() == ["em", "mean", "sd", "lower", "upper", "em_inside", "std_diff"]
    assert table_lines[1].split()[0] == "weights[0]"
    assert "(--quick fits K=2 only" in out
    assert 250 <= int(m.group(1)) <= 271  # most eruptions are clearly in one regime
    assert "The most ambiguous" in out and "interval" in out
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    for name in ("clusters_k2.png", "membership_entropy_k2.png", "coclustering_k2.png", "trace_k2.png"):
        assert name in pngs
    assert all((out_dir / p).stat().st_size > 5000 for p in pngs)
    assert f"written to {out_dir}" in out


# ------------------------------------------------------------------ fit
def test_fit_nuts_saves_a_loadable_model_and_strict_fails_on_tiny_runs(nuts_fit, data_dir):
    proc, out = nuts_fit
    # 2 x 40 draws cannot reach the ESS threshold (100 per chain): --strict -> 1,
    # with the fit saved anyway
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "bayesgmm: warning: Bulk effective sample size" in proc.stderr
    assert "(--strict); the fit was saved" in proc.stderr
    assert "Posterior summary" in proc.stdout and "weights[0]" in proc.stdout
    assert "Done in" not in proc.stdout  # --quiet
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(out)
    assert model.n_components == 2 and model.covariance_type == "full"
    post = model.idata_["posterior"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 40
    assert list(model.feature_names_in_) == ["waiting", "eruptions"]  # --columns order kept
    means = post["means"].mean(("chain", "draw")).sel(feature="waiting").to_numpy()
    np.testing.assert_allclose(np.sort(means), [54.5, 80.0], atol=1.5)


def test_fit_minibatch_advi_strict_passes(data_dir, tmp_path):
    out = tmp_path / "vi.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--method", "minibatch_advi",
                   "--covariance", "diag", "--draws", 30, "--vi-steps", 3000, "--chains", 1, "--strict",
                   "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "MCMC diagnostics do not apply" in proc.stdout and "Done in" in proc.stdout
    assert out.exists() and f"Saved the fit to {out}" in proc.stdout
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(out)
    assert model.covariance_type == "diag" and model.idata_.attrs["method"] == "minibatch_advi"
    assert model.idata_["sample_stats"]["loss"].size == 3000  # --vi-steps


def test_fit_gibbs_with_thin_saves_a_loadable_model(data_dir, tmp_path):
    out = tmp_path / "gibbs.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--method", "gibbs", "--covariance", "diag",
                   "--draws", 30, "--tune", 30, "--chains", 2, "--thin", 3, "--seed", 1, "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "then gibbs, 2 chains x 30 draws (30 warm-up sweeps, then 1 in 3 of 90 sweeps kept)" in proc.stdout
    assert "Posterior summary" in proc.stdout and f"Saved the fit to {out}" in proc.stdout
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(out)
    assert model.covariance_type == "diag" and model.idata_.attrs["method"] == "gibbs"
    post = model.idata_["posterior"]
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 30
    assert "occupied" in model.idata_["sample_stats"]
    assert '"thin": 3' in model.idata_.attrs["sampler_config"]  # --thin reached the sampler
    means = post["means"].mean(("chain", "draw")).sel(feature="waiting").to_numpy()
    np.testing.assert_allclose(np.sort(means), [54.5, 80.0], atol=2.0)


def test_fit_gibbs_with_resolution_models_rounded_data(data_dir, tmp_path):
    out = tmp_path / "rounded.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--method", "gibbs", "--draws", 20, "--tune", 20,
                   "--chains", 1, "--resolution", "0.001,1", "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    from bayesgmm import BayesianGMM

    config = BayesianGMM.load(out).idata_.attrs["sampler_config"]
    assert '"resolution": [0.001, 1.0]' in config
    bad = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--resolution", "0.1", "--out", tmp_path / "x.nc")
    assert bad.returncode != 0 and "--resolution only applies to --method gibbs" in bad.stderr
    bad = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--method", "gibbs", "--resolution", "-1",
                  "--out", tmp_path / "y.nc")
    assert bad.returncode != 0 and "every step must be a finite number >= 0" in bad.stderr


def test_select_sparse_with_resolution_and_thin(data_dir):
    base = ("select", data_dir / "faithful.csv", "-k", "1-3", "--method", "sparse", "--draws", 20, "--tune", 20,
            "--chains", 2, "--quiet")
    proc = run_cli(*base)
    assert proc.returncode == 0, proc.stderr
    assert "tied values" in proc.stderr and "resolution" in proc.stderr  # the warning, shown
    proc = run_cli(*base, "--resolution", "0.016667,1", "--thin", 2)
    assert proc.returncode == 0, proc.stderr
    assert "tied values" not in proc.stderr  # modelled as rounded
    assert "Posterior mode of the number of occupied components" in proc.stdout
    bad = run_cli("select", data_dir / "faithful.csv", "--method", "bic", "--resolution", "1")
    assert bad.returncode != 0 and "--resolution only applies to --method sparse" in bad.stderr
    bad = run_cli("select", data_dir / "faithful.csv", "--method", "loo", "--split-merge", "1")
    assert bad.returncode != 0 and "--split-merge only applies to --method sparse" in bad.stderr


def test_fit_gibbs_with_split_merge(data_dir, tmp_path):
    out = tmp_path / "sm.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "-k", "3", "--method", "gibbs", "--draws", 20, "--tune", 20,
                   "--chains", 1, "--split-merge", 2, "--resolution", "0.016667,1", "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(out)
    assert '"split_merge": 2' in model.idata_.attrs["sampler_config"]
    bad = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--split-merge", "1", "--out", tmp_path / "x.nc")
    assert bad.returncode != 0 and "--split-merge only applies to --method gibbs" in bad.stderr


def test_fit_tempering_with_target_accept(data_dir, tmp_path):
    out = tmp_path / "tempering.nc"
    proc = run_cli("fit", data_dir / "faithful.csv", "-k", "2", "--method", "tempering", "--covariance", "spherical",
                   "--draws", 20, "--tune", 20, "--chains", 1, "--target-accept", 0.8, "--quiet", "--out", out)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "then tempering, 1 chains x 20 draws (20 tuning iterations)" in proc.stdout
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(out)
    assert model.idata_.attrs["method"] == "tempering"
    assert model.idata_["posterior"].sizes["draw"] == 20
    assert '"target_accept": 0.8' in model.idata_.attrs["sampler_config"]


@pytest.mark.parametrize(
    "args, code, needles",
    [
        (["missing.csv", "-k", "2"], 2, ["data file", "missing.csv", "not found"]),
        (["{d}/empty.csv", "-k", "2"], 2, ["is empty"]),
        (["{d}/faithful.csv", "-k", "2", "--columns", "waiting,durations"], 2,
         ["unknown column(s) 'durations'", "available columns: eruptions, waiting"]),
        (["{d}/mixed.csv", "-k", "2"], 2, ["non-numeric column(s)", "'id'", "'site'", "--columns"]),
        (["{d}/typo.csv", "-k", "2"], 2, ["non-numeric column(s)", "'waiting'", "'7o' in data row 8"]),
        (["{d}/mixed.csv", "-k", "2", "--columns", "eruptions,waiting"], 2, ["1 missing (empty or NaN) in 'waiting'"]),
        (["{d}/mixed.csv", "-k", "2", "--index-col", "nope"], 2, ["--index-col 'nope'"]),
        (["{d}/faithful.csv", "-k", "300"], 2, ["272 rows but --components is 300"]),
        (["{d}/faithful.csv", "-k", "0"], 2, ["--components/-k", "expected an integer >= 1"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "hmc"], 2, ["--method", "invalid choice: 'hmc'"]),
        (["{d}/faithful.csv", "-k", "2", "--thin", "2"], 2, ["--thin only applies to --method gibbs"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "gibbs", "--thin", "0"], 2, ["--thin", "expected an integer >= 1"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "gibbs", "--covariance", "EII"], 2,
         ["--method gibbs needs a covariance type with a compiled density", "'EII'"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "gibbs", "--target-accept", "0.9"], 2,
         ["--target-accept only applies to --method nuts or tempering"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "tempering", "--vi-steps", "100"], 2,
         ["--vi-steps only applies to the VI methods"]),
        (["{d}/faithful.csv", "-k", "2", "--out", "{d}/no/such/dir/fit.nc"], 2, ["does not exist"]),
        (["{d}/faithful.csv", "-k", "2", "--target-accept", "1.5"], 2, ["--target-accept", "(0, 1)"]),
        (["{d}/faithful.csv", "-k", "2", "--method", "advi", "--target-accept", "0.9"], 2,
         ["--target-accept only applies to --method nuts"]),
    ],
)
def test_fit_errors(data_dir, args, code, needles):
    args = [a.format(d=data_dir) for a in args]
    if "--out" not in args:
        args += ["--out", str(data_dir / "never.nc")]
    proc = run_cli_in_process("fit", *args)
    assert_clean_error(proc, code, *needles)
    assert not (data_dir / "never.nc").exists()


@pytest.mark.parametrize(
    "args, code, needle",
    [
        (["fit", "{d}/faithful.csv", "-k", "0", "--out", "{d}/never.nc"], 2, "expected an integer >= 1"),
        (["select", "{d}/faithful.csv", "-k", "6-1"], 2, "low 6 > high 1"),
        (["report", "{d}/no_such_fit.nc"], 2, "not found"),
    ],
)
def test_error_paths_in_a_real_process(data_dir, args, code, needle):
    """The in-process error tests stand for the real command: the same exit status and
    one-line message from ``python -m bayesgmm.cli``."""
    args = [a.format(d=data_dir) for a in args]
    real, here = run_cli(*args), run_cli_in_process(*args)
    assert_clean_error(real, code, needle)
    assert_clean_error(here, code, needle)
    assert real.stderr.strip().splitlines()[-1] == here.stderr.strip().splitlines()[-1]


# ------------------------------------------------------------------ select
def test_select_bic_table_plot_and_csv(data_dir, tmp_path):
    table, plot = tmp_path / "table.csv", tmp_path / "sel.png"
    proc = run_cli("--quiet", "select", data_dir / "faithful.csv", "--components", "1-3",
                   "--covariance", "full,diag", "--out", table, "--plot", plot)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # --quiet: no progress bar
    assert "Selected: K=2 (full covariances)." in proc.stdout
    assert "lower is better" in proc.stdout
    df = pd.read_csv(table)
    assert len(df) == 6 and set(df["covariance_type"]) == {"full", "diag"}
    row = df[(df.n_components == 2) & (df.covariance_type == "full")].iloc[0]
    assert row["bic"] == pytest.approx(2322.192, abs=2e-3)  # mclust's -BIC for VVV, G=2
    assert row["bic_mclust"] == pytest.approx(-row["bic"])
    assert plot.stat().st_size > 5000


def test_select_shows_progress_unless_quiet(data_dir):
    # also: an unnamed first column (pandas' index) is taken as labels, with a warning
    proc = run_cli("select", data_dir / "with_index.csv", "-k", "1-2", "--n-init", 1)
    assert proc.returncode == 0, proc.stderr
    assert "bayesgmm: warning: the first column of" in proc.stderr
    assert "272 rows x 2 columns" in proc.stdout
    assert "2/2" in proc.stderr  # one overall progress bar over the fits, on stderr
    assert "2/2" not in proc.stdout and "Selected: K=2" in proc.stdout


@pytest.mark.slow
def test_select_sparse_with_tiny_sampling(data_dir):
    proc = run_cli("select", data_dir / "faithful.csv", "-k", "4", "--method", "sparse",
                   "--draws", 30, "--tune", 30, "--chains", 1, "-q")
    assert proc.returncode == 0, proc.stderr
    m = re.search(r"occupied components: (\d+)", proc.stdout)
    assert m is not None and 1 <= int(m.group(1)) <= 4, proc.stdout
    assert "probability" in proc.stdout


@pytest.mark.parametrize(
    "args, needles",
    [
        (["missing.csv"], ["data file 'missing.csv' not found"]),
        (["{d}/faithful.csv", "-k", "6-1"], ["invalid component range '6-1'", "low 6 > high 1"]),
        (["{d}/faithful.csv", "-k", "0-3"], ["invalid component range", ">= 1"]),
        (["{d}/faithful.csv", "-k", "two"], ["invalid component range 'two'"]),
        (["{d}/faithful.csv", "--covariance", "full,banded"], ["'banded'", "full, tied, diag, spherical"]),
        (["{d}/faithful.csv", "--columns", "eruptions,wait"], ["unknown column(s) 'wait'"]),
        (["{d}/mixed.csv", "--columns", "eruptions,site"], ["non-numeric column(s)", "'site'"]),
        (["{d}/faithful.csv", "--draws", "10"], ["only apply to --method loo, waic or sparse"]),
        (["{d}/semicolon.csv"], ["non-numeric column(s)", "'a;b'", "is the separator ';'? Pass --sep ';'"]),
    ],
)
def test_select_errors(data_dir, args, needles):
    proc = run_cli_in_process("select", *[a.format(d=data_dir) for a in args])
    assert_clean_error(proc, 2, *needles)


# ------------------------------------------------------------------ report
def test_report_writes_tables_and_plots(nuts_fit, tmp_path):
    _, fit = nuts_fit
    out = tmp_path / "rep"
    proc = run_cli("report", fit, "--out", out, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    files = {p.name for p in out.iterdir()}
    assert {"summary.csv", "memberships.csv", "compare_em.csv"} <= files
    assert {"clusters.png", "membership_entropy.png", "membership_probability.png", "coclustering.png",
            "compare_em.png", "trace.png", "rank.png"} <= files
    members = pd.read_csv(out / "memberships.csv", index_col="obs")
    assert len(members) == 272
    assert list(members.columns[:2]) == ["waiting", "eruptions"]
    # rounded to 4 decimals, each probability inside its printed interval (a point mass reads as one)
    np.testing.assert_allclose(members[["probability_0", "probability_1"]].sum(axis=1), 1.0, atol=2e-3)
    assert (members["lower"] <= members["upper"]).all() and (members["probability"] >= 0.5).all()
    assert ((members["lower"] <= members["probability"]) & (members["probability"] <= members["upper"])).all()
    point = members["lower"] == members["upper"]
    assert (members.loc[point, "probability"] == members.loc[point, "lower"]).all()
    summary = pd.read_csv(out / "summary.csv", index_col="parameter")
    assert "weights[0]" in summary.index and {"mean", "sd"} <= set(summary.columns)
    from bayesgmm import BayesianGMM

    model = BayesianGMM.load(fit)
    mem = model.membership()
    np.testing.assert_array_equal(members["component"], mem["assignment"])
    np.testing.assert_allclose(members["entropy"], mem["entropy"], atol=5e-5)
    k = mem["assignment"].to_numpy()
    rows = np.arange(len(k))
    np.testing.assert_allclose(members["lower"], mem["lower"].to_numpy()[rows, k], atol=5e-5)
    np.testing.assert_allclose(members["upper_1"], mem["upper"].sel(component=1), atol=5e-5)
    np.testing.assert_allclose(
        summary.loc["weights[0]", "mean"], float(model.idata_["posterior"]["weights"].sel(component=0).mean()))
    assert "Wrote 10 files" in proc.stdout


def test_report_one_chain_skips_the_rank_plot_with_a_clear_warning(nuts_fit, tmp_path, capsys):
    from bayesgmm import _datatree as dt

    _, fit = nuts_fit
    one = tmp_path / "one_chain.nc"
    dt.save(dt.load(fit).isel(chain=[0]), one)
    out = tmp_path / "rep1"
    assert main(["report", str(one), "--out", str(out), "--quiet"]) == 0
    cap = capsys.readouterr()
    assert "1 chain(s) x 40 draws" in cap.out
    warning = [line for line in cap.err.splitlines() if "rank plot" in line]
    assert len(warning) == 1, cap.err
    assert warning[0].startswith("bayesgmm: warning: skipped the rank plot")
    assert "rank plots compare chains" in warning[0] and "chains >= 2" in warning[0]
    files = {p.name for p in out.iterdir()}
    assert "rank.png" not in files and {"trace.png", "compare_em.png", "summary.csv"} <= files
    assert not re.search(r"\b1 are\b", cap.out)


def test_report_errors(data_dir, tmp_path):
    run = run_cli_in_process
    assert_clean_error(run("report", tmp_path / "missing.nc"), 2, "fit file", "not found")
    assert_clean_error(run("report", data_dir / "not_a_fit.nc", "--out", tmp_path / "r"), 2,
                       "cannot read the fit", "BayesianGMM.save()")
    assert_clean_error(run("report", tmp_path), 2, "is a directory")
