"""Seconds from a SIGINT (timer thread) to the KeyboardInterrupt, per phase of BayesianGMM.fit."""
import sys, time, warnings
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tests"))
warnings.simplefilter("ignore")
import numpy as np
import nutpie
import bayesgmm.inference
from bayesgmm import BayesianGMM
from bayesgmm.datasets import load_old_faithful
from bayesgmm.em import GaussianMixture
from test_interrupts import _SigintAfter

X = load_old_faithful()
m = BayesianGMM(2, random_state=1).fit(X, draws=20, tune=20, chains=2, progressbar=False)

def measure(label, owner, name, delay, **fit_kw):
    real = getattr(owner, name)
    sig = _SigintAfter(delay)
    def wrapper(*a, **k):
        sig.start(); return real(*a, **k)
    setattr(owner, name, wrapper)
    data = fit_kw.pop("data", X)
    try:
        m.fit(data, progressbar=False, **fit_kw)
        print(label, "NOT interrupted")
    except KeyboardInterrupt:
        print(f"{label}: KeyboardInterrupt {time.perf_counter() - sig.sent_at:.3f} s after SIGINT")
    finally:
        sig.join(); setattr(owner, name, real)

measure("EM (n=200000, n_init=1000)", GaussianMixture, "fit", 0.3, data=np.random.default_rng(0).normal(size=(200_000, 2)), draws=10, tune=10, chains=1, n_init=1000)
measure("nutpie warm-up", nutpie, "sample", 0.5, draws=10, tune=200_000, chains=2)
measure("nutpie draws", nutpie, "sample", 1.0, draws=200_000, tune=10, chains=2)
measure("minibatch ADVI", bayesgmm.inference, "_minibatch_advi", 0.5, method="minibatch_advi", draws=10, chains=1, n=10_000_000)
