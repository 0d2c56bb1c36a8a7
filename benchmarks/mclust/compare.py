"""Our EM and scikit-learn's against R mclust's best-of-many-starts maxima.

Reads ``benchmarks/mclust/reference.csv`` (made by ``reference.R``) and the
data sets it exported (``benchmarks/mclust/data/*.csv``, the identical
numbers), fits every (data set, covariance type, G = 1..9) cell with

* ours: :class:`bayesgmm.GaussianMixture` with its default start
  (``init_params`` and ``n_init`` as given on the command line; default: the
  estimator's defaults) and a tight tolerance (``tol=1e-8``,
  ``max_iter=2000``) so that the fits end at their maxima;
* scikit-learn's ``GaussianMixture(n_init=10)`` (same ``tol``/``max_iter``,
  ``random_state=0``),

and prints per cell mclust's best log-likelihood without a near-singular
component ("mclust", the target) and its best over all starts ("any", which
can be a spurious maximum), ours, scikit-learn's, the
differences, the smallest covariance eigenvalue relative to the data's
variance in that direction (the smallest generalised eigenvalue of each
component covariance against the data covariance, minimum over the
components; below 1e-4 is flagged ``*`` as near-singular) and per data set
the BIC choice of each (ours: as ``select_components``, without the cells
whose fit the estimator flags near-singular; mclust's sign convention: ``2 log L - p log n``,
larger is better; ``p`` is mclust's ``nMclustParams``, equal to ours for
these four models).

With ``--prior``, ours is the MAP estimate under mclust's default conjugate
prior (``GaussianMixture(prior="default")``, ``Mclust(..., prior =
priorControl())``): its log-likelihood is below the maximum likelihood by
design, so "cells reached" no longer applies; the near-singular counts (of
the returned solutions and of all starts) and the BIC choice do.

With ``--models mclust`` all fourteen of mclust's models (mclust's other ten
against ``reference_ten.csv``, fewer starts; scikit-learn has only the four)
and the BIC choice over all fourteen against ``Mclust()``'s
(``mclust_default_choice_all.csv``).

Usage (repository root; ``PYTHONPATH`` names the bayesgmm tree to measure)::

    PYTHONPATH=. python benchmarks/mclust/compare.py > benchmarks/mclust/results/<name>.txt
    python benchmarks/mclust/compare.py --init-params kmeans --n-init 10
    python benchmarks/mclust/compare.py --prior --n-init 5 --no-sklearn
    python benchmarks/mclust/compare.py --no-sklearn --split-merge 0   # starts only
    python benchmarks/mclust/compare.py --no-sklearn --split-merge 120 --cells faithful:full:7
"""

from __future__ import annotations

import argparse
import csv
import math
import time
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg

from bayesgmm import GaussianMixture
from bayesgmm.covariance import COVARIANCE_TYPES, MCLUST_MODELS, get_covariance_type

HERE = Path(__file__).resolve().parent

TOL_CLOSE = 0.05
NEAR_SINGULAR = 1e-4


def load_reference():
    rows = []
    for name in ("reference.csv", "reference_ten.csv"):  # the ten: ``reference.R ten``
        if (HERE / name).exists():
            with open(HERE / name) as f:
                rows += list(csv.DictReader(f))
    num = lambda v: float(v) if v not in ("", "NA") else math.nan  # noqa: E731
    return {
        (r["dataset"], r["covariance_type"], int(r["G"])): (
            num(r["loglik_regular"]), r["start_regular"], r["model"], num(r["loglik_best"]),
        )
        for r in rows
    }


def load_data(name):
    return np.loadtxt(HERE / "data" / f"{name}.csv", delimiter=",", skiprows=1)


def min_relative_eigenvalue(covariances, ct, k, data_cov):
    """Smallest generalised eigenvalue of a component covariance vs the data covariance."""
    full = get_covariance_type(ct).to_full(np.asarray(covariances), k, data_cov.shape[0])
    return float(min(scipy.linalg.eigh(c, data_cov, eigvals_only=True)[0] for c in full))


def fit_ours(X, k, ct, args):
    kw = {} if args.init_params is None else {"init_params": args.init_params}
    if args.n_init is not None:
        kw["n_init"] = args.n_init
    if args.split_merge is not None:
        kw["split_merge"] = args.split_merge
    if args.prior:
        kw["prior"] = "default"
    gm = GaussianMixture(k, covariance_type=ct, tol=args.tol, max_iter=args.max_iter,
                         random_state=args.seed, **kw)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        gm.fit(X)
    return gm, [str(w.message)[:60] for w in rec]


def fit_sklearn(X, k, ct, args):
    from sklearn.mixture import GaussianMixture as SkGM

    if ct not in COVARIANCE_TYPES:  # mclust's other ten: scikit-learn has no such model
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return SkGM(k, covariance_type=ct, n_init=10, tol=args.sklearn_tol or args.tol,
                    max_iter=args.max_iter,
                    random_state=args.seed).fit(X)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--init-params", default=None, help="ours: init_params (default: estimator's)")
    p.add_argument("--n-init", type=int, default=None, help="ours: n_init (default: estimator's)")
    p.add_argument("--split-merge", type=int, default=None,
                   help="ours: split_merge, the most split-and-merge moves (default: estimator's)")
    p.add_argument("--tol", type=float, default=1e-8)
    p.add_argument("--max-iter", type=int, default=2000)
    p.add_argument("--sklearn-tol", type=float, default=None,
                   help="scikit-learn's tol (default: --tol)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-sklearn", action="store_true")
    p.add_argument("--prior", action="store_true",
                   help='ours: the MAP estimate, GaussianMixture(prior="default")')
    p.add_argument("--datasets", default="faithful,iris,banknote,diabetes")
    p.add_argument("--cells", default=None,
                   help="only these cells, e.g. faithful:full:7,iris:diag:8 (the BIC choice "
                        "is then over them only)")
    p.add_argument("--models", default="four",
                   help="'four' (full, tied, diag, spherical), 'mclust' (all fourteen, "
                        "needs reference_ten.csv) or a comma-separated list")
    args = p.parse_args()
    ref = load_reference()
    if args.models == "four":
        cts = list(COVARIANCE_TYPES)
    elif args.models == "mclust":
        cts = [get_covariance_type(m).name for m in MCLUST_MODELS]
    else:
        cts = [get_covariance_type(m).name for m in args.models.split(",")]
    per_model = {ct: [0, 0] for ct in cts}
    defaults = GaussianMixture()
    print(f"ours: GaussianMixture(init_params={args.init_params or defaults.init_params!r}, "
          f"n_init={args.n_init or defaults.n_init}, "
          f"split_merge={defaults.split_merge if args.split_merge is None else args.split_merge}, "
          f"tol={args.tol}, max_iter={args.max_iter}, "
          f"prior={'default' if args.prior else None}, "
          f"random_state={args.seed}); scikit-learn: GaussianMixture(n_init=10, "
          f"tol={args.sklearn_tol or args.tol}, same max_iter, random_state)")
    print(f"'*' marks a near-singular solution (smallest relative eigenvalue < {NEAR_SINGULAR:g})")
    total = {"cells": 0, "ours": 0, "sk": 0, "ours_sing": 0, "sk_sing": 0, "ours_above": 0,
             "sk_above": 0, "starts": 0, "starts_sing": 0, "cells_any_start_sing": 0}
    choices = []
    t_ours = t_sk = 0.0
    only = set()
    for cell in (args.cells.split(",") if args.cells else []):
        ds, model_name, g = cell.split(":")
        only.add((ds, get_covariance_type(model_name).name, int(g)))
    for name in args.datasets.split(","):
        X = load_data(name)
        n, d = X.shape
        data_cov = np.cov(X, rowvar=False, bias=True).reshape(d, d)
        print(f"\n== {name}: n={n}, d={d}")
        print(f"{'model':>9} {'G':>2} {'mclust':>11} {'start':>8} {'any':>11} {'ours':>11} {'d_ours':>9} "
              f"{'eig_ours':>9} {'sklearn':>11} {'d_sk':>9} {'eig_sk':>9}  ours' warnings")
        bic = {"mclust": {}, "ours": {}, "sklearn": {}}
        for ct in cts:
            for k in range(1, 10):
                if only and (name, ct, k) not in only:
                    continue
                ll_ref, start, model, ll_any = ref[(name, ct, k)]
                npar = get_covariance_type(ct).n_parameters(k, d)
                t0 = time.perf_counter()
                gm, warns = fit_ours(X, k, ct, args)
                t_ours += time.perf_counter() - t0
                ll_o = float(gm.score(X)) * n
                sing_starts = sum(r["near_singular"] for r in gm._restarts)
                total["starts"] += len(gm._restarts)
                total["starts_sing"] += sing_starts
                total["cells_any_start_sing"] += bool(sing_starts)
                e_o = min_relative_eigenvalue(gm.covariances_, ct, k, data_cov)
                sk = None
                if not args.no_sklearn:
                    t0 = time.perf_counter()
                    sk = fit_sklearn(X, k, ct, args)
                    t_sk += time.perf_counter() - t0
                if sk is None:
                    ll_s = e_o_s = math.nan
                else:
                    ll_s = float(sk.score(X)) * n
                    e_o_s = min_relative_eigenvalue(sk.covariances_, ct, k, data_cov)
                do, ds = ll_o - ll_ref, ll_s - ll_ref
                total["cells"] += 1
                total["ours"] += bool(do >= -TOL_CLOSE)
                per_model[ct][0] += bool(do >= -TOL_CLOSE)
                per_model[ct][1] += 1
                total["sk"] += bool(ds >= -TOL_CLOSE)
                total["ours_above"] += bool(do > TOL_CLOSE)
                total["sk_above"] += bool(ds > TOL_CLOSE)
                total["ours_sing"] += bool(e_o < NEAR_SINGULAR)
                total["sk_sing"] += bool(e_o_s < NEAR_SINGULAR)
                fl = lambda e: f"{e:9.1e}{'*' if e < NEAR_SINGULAR else ' '}"  # noqa: E731
                print(f"{ct:>9} {k:2d} {ll_ref:11.3f} {start:>8} {ll_any:11.3f} {ll_o:11.3f} "
                      f"{do:9.3f} {fl(e_o)}"
                      f"{ll_s:11.3f} {ds:9.3f} {fl(e_o_s)} {'; '.join(sorted(set(warns)))}")
                pen = npar * math.log(n)
                bic["mclust"][(model, k)] = 2 * ll_ref - pen
                # as select_components: a cell the estimator flags near-singular
                # is not chosen (estimators without the flag: every cell)
                flagged = len(getattr(gm, "degenerate_components_", ()))
                bic["ours"][(model, k)] = math.nan if flagged else 2 * ll_o - pen
                bic["sklearn"][(model, k)] = 2 * ll_s - pen
        line = {"dataset": name}
        for who, b in bic.items():
            fin = {c: v for c, v in b.items() if np.isfinite(v)}
            line[who] = max(fin, key=fin.get) if fin else None
        choices.append(line)
    print("\n== summary")
    c = total["cells"]
    print(f"cells within {TOL_CLOSE} of mclust's best regular maximum or above: ours "
          f"{total['ours']}/{c}, "
          f"scikit-learn {total['sk']}/{c}")
    print("  ours per model: " + ", ".join(
        f"{get_covariance_type(ct).mclust_name} {a}/{b}" for ct, (a, b) in per_model.items()))
    print(f"cells more than {TOL_CLOSE} above mclust's best: ours {total['ours_above']}, "
          f"scikit-learn {total['sk_above']}")
    print(f"near-singular solutions (< {NEAR_SINGULAR:g}): ours {total['ours_sing']}, "
          f"scikit-learn {total['sk_sing']}")
    print(f"ours, starts that ended near-singular (the estimator's flag): {total['starts_sing']} of "
          f"{total['starts']}, in {total['cells_any_start_sing']} of {c} cells")
    print(f"fit time, all cells: ours {t_ours:.1f} s, scikit-learn {t_sk:.1f} s")
    mdef = {}
    mdef_file = HERE / ("mclust_default_choice_all.csv" if args.models == "mclust"
                        else "mclust_default_choice.csv")
    if mdef_file.exists():
        with open(mdef_file) as f:
            mdef = {r["dataset"]: (r["model"], int(r["G"])) for r in csv.DictReader(f)}
    print("BIC choice (model, G): mclust Mclust() default | mclust best regular maxima | ours | "
          "scikit-learn")
    for line in choices:
        fmt = lambda t: f"{t[0]} {t[1]}" if t else "-"  # noqa: E731
        same = "same" if line["ours"] == mdef.get(line["dataset"], line["mclust"]) else "DIFFERENT"
        print(f"  {line['dataset']:>9}: {fmt(mdef.get(line['dataset']))} | {fmt(line['mclust'])} | "
              f"{fmt(line['ours'])} | {fmt(line['sklearn'])}   ours vs mclust: {same}")


if __name__ == "__main__":
    main()
