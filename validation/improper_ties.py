"""Tied values make the mixture posterior improper: a numerical demonstration on Old Faithful.

A component that holds only the observations sharing one waiting time (78 minutes: 15
eruptions) gets a waiting sd ``eps`` going to 0; the other two components are the EM fit
with K=2. The log posterior density of the sparse model (``weights_alpha=0.01``, K=3,
``full``; the package's ``MixtureDensity``, on the unconstrained scale the samplers use)
rises by ``15 log(10) = 34.5`` per decade of ``eps``, without limit: the posterior mass
near ``eps = 0`` is infinite (issue 14; docs/user-guide/multimodal.md, "Rounded data").

Usage::

    python validation/improper_ties.py     # ~5 s; output in results/improper_ties.txt
"""
import numpy as np

import bayesgmm as bg
from bayesgmm._logdensity import MixtureDensity

X = bg.datasets.load_old_faithful().to_numpy()
em = bg.GaussianMixture(2, random_state=0).fit(X)
values, counts = np.unique(X[:, 1], return_counts=True)
w0 = values[np.argmax(counts)]
tied = X[X[:, 1] == w0]
print(f"waiting = {w0:g} min: {len(tied)} of {len(X)} eruptions")
dens = MixtureDensity(X, 3, "full", priors=bg.Priors(weights_alpha=0.01))
previous = None
for eps in [1e-1, 1e-2, 1e-3, 1e-4, 1e-6, 1e-8]:
    cov3 = np.diag([tied[:, 0].var() + 1e-3, eps**2])
    x = dens.pack(
        np.r_[em.weights_ * (1 - len(tied) / len(X)), len(tied) / len(X)],
        np.vstack([em.means_, [tied[:, 0].mean(), w0]]),
        np.concatenate([em.covariances_, cov3[None]]),
    )
    lp = dens.logp(x)
    step = "" if previous is None else f"   ({(lp - previous[1]) / np.log10(previous[0] / eps):+.1f} per decade)"
    print(f"waiting sd of the third component {eps:7.0e}: log posterior density {lp:10.2f}{step}")
    previous = (eps, lp)
