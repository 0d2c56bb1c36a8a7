import numpy as np, warnings
from bayesgmm import GaussianMixture
from bayesgmm.datasets import make_mixture
X = make_mixture(300, 2, 2, random_state=0).X
ref = GaussianMixture(2, random_state=0).fit(X)
for s in [1e306, 1e300, 1e-16, 1e-20, 1e-300, 7.5]:
    g = GaussianMixture(2, random_state=0).fit(X, sample_weight=np.full(len(X), s))
    print(s, np.abs(g.means_ - ref.means_).max(), np.abs(g.weights_-ref.weights_).max(), g.lower_bound_ - ref.lower_bound_, g.score(X, sample_weight=np.full(len(X), s)) - ref.score(X))
for bad in [-1, np.nan, np.inf, 0, "a", True]:
    try:
        GaussianMixture(2).fit(X, sample_weight=bad); print(bad, "accepted")
    except (TypeError, ValueError) as e: print(repr(bad), type(e).__name__, e)
