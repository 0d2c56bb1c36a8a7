"""Seconds from SIGINT to exit of `bayesgmm select --jobs 2` (sent 1 s after its progress bar appears)."""
import os, signal, subprocess, sys, time
import numpy as np, pandas as pd
d = __import__("tempfile").mkdtemp(prefix="bayesgmm_selsig_"); os.makedirs(d, exist_ok=True)
pd.DataFrame(np.random.default_rng(1).normal(size=(3000, 3))).to_csv(f"{d}/big.csv", index=False)
for rep in range(2):
    p = subprocess.Popen([sys.executable, "-m", "bayesgmm.cli", "select", f"{d}/big.csv", "-k", "1-40",
                          "--covariance", "full,diag", "--n-init", "20", "--jobs", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    seen = b""
    while b"select_components" not in seen:
        seen += p.stderr.read1(256)
    time.sleep(1.0)
    t0 = time.perf_counter(); p.send_signal(signal.SIGINT); code = p.wait(60)
    print(f"exit {code} after {time.perf_counter() - t0:.2f} s")
