"""Rerun the Gibbs SBC replicates with other sampler seeds: same truths and data, new MCMC noise.

Written to check the one rejection of the Gibbs SBC runs (``diag``, ``--seed 7``,
``mbar_0``; validation/README.md). For replicates 0..R-1 of ``--seed SEED`` it redraws
the truth, data and EM fit exactly as ``sbc.run_replicate`` does, then samples with
``method="gibbs"`` (sbc.py's GIBBS_* settings) at the replicate's sampler seed plus each
OFFSET (offset 0 reproduces the rows on file), and reports for ``mbar_0`` and ``mbar_1``
the 20-bin chi-square p of the L=99 ranks and of the finer posterior quantile of the
truth among all 2000 kept draws (plus its KS p). Writes nothing under results/.

Usage (from the repository root)::

    OPENBLAS_NUM_THREADS=1 python validation/sbc_gibbs_reseed.py diag 7 0,1000003,2000003 200
"""
import sys
import time
import warnings
from pathlib import Path

import numpy as np
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sbc
from bayesgmm.em import GaussianMixture
from bayesgmm.inference import run_inference

ct, seed, offsets, R = sys.argv[1], int(sys.argv[2]), [int(o) for o in sys.argv[3].split(",")], int(sys.argv[4])
out = []
t0 = time.perf_counter()
for rep in range(R):
    rng = np.random.default_rng([seed, rep])
    rp = sbc.reference_priors(ct)
    w, mu, cov = sbc.draw_prior(rp, ct, rng)
    X = sbc.simulate(w, mu, cov, sbc.N_OBS, rng)
    em = GaussianMixture(2, covariance_type=ct, n_init=3, random_state=int(rng.integers(2**31 - 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        em.fit(X)
    rs = int(rng.integers(2**31 - 1))
    row = [rep]
    for off in offsets:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = run_inference(X, 2, ct, priors=rp, init=em, method="gibbs", draws=sbc.GIBBS_DRAWS, tune=sbc.GIBBS_TUNE,
                                 chains=1, random_seed=(rs + off) % (2**31 - 1), progressbar=False, thin=sbc.GIBBS_THIN, cores=1)
        m = tree["posterior"]["means"].values.reshape(-1, 2, 2).mean(axis=1)  # (S, D): mbar_d
        tm = mu.mean(axis=0)
        for d in range(2):
            thinned = m[::sbc.GIBBS_SCRIPT_THIN][:sbc.L_DRAWS, d]
            row += [int(np.sum(thinned < tm[d])), float(np.mean(m[:, d] < tm[d]))]
    out.append(row)
print(f"done {R} reps in {time.perf_counter() - t0:.0f}s")
a = np.array(out, dtype=float)
from scipy import stats
for j, off in enumerate(offsets):
    for d in range(2):
        rk, u = a[:, 1 + j * 4 + 2 * d], a[:, 2 + j * 4 + 2 * d]
        chi2, p, counts = sbc.chi2_uniform(rk.astype(int))
        cu = np.bincount(np.minimum((u * 20).astype(int), 19), minlength=20)
        pu = stats.chisquare(cu).pvalue
        print(f"offset {off} mbar_{d}: L=99 ranks chi2 p {p:.4f} counts {counts.tolist()}; "
              f"fine quantile (2000 draws) chi2 p {pu:.4f} KS p {stats.kstest(u, 'uniform').pvalue:.4f} counts {cu.tolist()}")
