"""Save/load timing of a tree with a 64 MiB pointwise log-likelihood: new atomic save vs a direct to_netcdf."""
import sys, time, os
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "tests"))
import tempfile
import numpy as np
TMP = tempfile.mkdtemp(prefix="bayesgmm_save_")
from test_safe_storage import _make_tree
from bayesgmm import _datatree as dt
tree = _make_tree(n=2000, C=4, S=1000)
ll_mb = tree["log_likelihood"]["X"].nbytes / 2**20
print(f"log_likelihood {ll_mb:.0f} MiB")
for rep in range(2):
    t0 = time.perf_counter(); tree.to_netcdf(f"{TMP}/direct.nc", engine="h5netcdf", mode="w"); t1 = time.perf_counter()
    dt.save(tree, f"{TMP}/atomic.nc"); t2 = time.perf_counter()
    dt.load(f"{TMP}/atomic.nc"); t3 = time.perf_counter()
    t4 = time.perf_counter(); dt.tree_digest(tree); t5 = time.perf_counter()
    print(f"direct to_netcdf {t1-t0:.2f} s | dt.save {t2-t1:.2f} s | dt.load {t3-t2:.2f} s | digest {t5-t4:.2f} s | size {os.path.getsize(f'{TMP}/atomic.nc')/2**20:.0f} MiB")
