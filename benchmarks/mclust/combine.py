"""Combine outputs of ``compare.py --models mclust`` (and ``cells.py``), possibly cut short.

Usage::

    PYTHONPATH=. python benchmarks/mclust/combine.py OUT1.txt OUT2.txt ...

Per data set: cells on file, cells reached (ours >= mclust's best regular maximum - 0.05
and not near-singular), cells more than 0.05 above, near-singular cells, and the BIC
choice (mclust's sign, ``2 log L - p log n``) over the cells on file: ours (near-singular
cells excluded), mclust's best-of-starts maxima, and ``Mclust()``'s default choice. A
later file's row for a cell replaces an earlier one.
"""

import csv
import math
import re
import sys
from pathlib import Path

from bayesgmm.covariance import MCLUST_MODELS, get_covariance_type

HERE = Path(__file__).resolve().parent
SIZES = {"faithful": (272, 2), "iris": (150, 4), "banknote": (200, 6), "diabetes": (145, 3)}


def read(paths):
    seen = {}
    for path in paths:
        name = None
        with open(path) as f:
            for line in f:
                m = re.match(r"== (\w+): n=", line)
                if m:
                    name = m.group(1)
                    continue
                p = line.split()
                if name and len(p) >= 8 and p[1].isdigit():
                    seen.setdefault(name, {})[(p[0], int(p[1]))] = (
                        float(p[2]), float(p[5]), float(p[6]), p[7].endswith("*"))
    return seen


def main(paths):
    with open(HERE / "mclust_default_choice_all.csv") as f:
        mdef = {r["dataset"]: (r["model"], int(r["G"])) for r in csv.DictReader(f)}
    tot = {"cells": 0, "reached": 0, "above": 0, "sing": 0}
    per_model = {}
    for name, rows in read(paths).items():
        n, d = SIZES[name]
        r = {"cells": len(rows), "reached": 0, "above": 0, "sing": 0}
        bic_o, bic_m = {}, {}
        for (ct, k), (mcl, ours, dd, sing) in rows.items():
            mn = get_covariance_type(ct).mclust_name
            pm = per_model.setdefault(mn, [0, 0])
            pm[1] += 1
            ok = dd >= -0.05 and not sing
            r["reached"] += ok
            pm[0] += ok
            r["above"] += dd > 0.05
            r["sing"] += sing
            pen = get_covariance_type(ct).n_parameters(k, d) * math.log(n)
            if not sing:
                bic_o[(mn, k)] = 2 * ours - pen
            bic_m[(mn, k)] = 2 * mcl - pen
        for key in tot:
            tot[key] += r[key]
        bo, bm = max(bic_o, key=bic_o.get), max(bic_m, key=bic_m.get)
        print(f"{name:>9}: cells {r['cells']}/126, reached {r['reached']}, >0.05 above {r['above']}, "
              f"near-singular {r['sing']}; BIC choice ours {bo[0]} {bo[1]} ({bic_o[bo]:.3f}) | "
              f"mclust best-of-starts {bm[0]} {bm[1]} ({bic_m[bm]:.3f}) | Mclust() {mdef[name][0]} "
              f"{mdef[name][1]}{'' if r['cells'] == 126 else '  (over the cells on file)'}")
    print(f"total: cells {tot['cells']}, reached {tot['reached']}, above {tot['above']}, "
          f"near-singular {tot['sing']}")
    print("per model (reached/cells): " + ", ".join(
        f"{m} {per_model[m][0]}/{per_model[m][1]}" for m in MCLUST_MODELS if m in per_model))


if __name__ == "__main__":
    main(sys.argv[1:])
