"""Render the bayesgmm plot gallery on the Old Faithful data into ``docs/gallery/``.

Usage (from the repository root)::

    python docs/gallery/make_gallery.py                 # K = 2 and K = 3
    python docs/gallery/make_gallery.py --components 2  # only K = 2
    python docs/gallery/make_gallery.py --out /tmp/gallery --draws 500

For each number of components K it fits :class:`bayesgmm.BayesianGMM` (EM, then
NUTS started at the EM fit), computes the posterior summaries with the public
functions of :mod:`bayesgmm.posterior` and draws them with :mod:`bayesgmm.plots`:

* ``clusters_k{K}.png`` -- data coloured by the point partition, posterior
  covariance ellipses (light: draws; bold: posterior mean) and EM ellipses (dashed);
* ``membership_entropy_k{K}.png`` / ``membership_probability_k{K}.png`` --
  observations shaded by assignment entropy / probability of their component;
* ``coclustering_k{K}.png`` -- posterior similarity matrix ordered by the partition;
* ``compare_em_k{K}.png`` -- EM vs posterior forest plot;
* ``trace_k{K}.png``, ``rank_k{K}.png``, ``pair_k{K}.png`` -- arviz-plots on the
  relabelled draws.

The plots only draw; every number comes from the fit and :mod:`bayesgmm.posterior`.
K = 3 is deliberately one component too many for Old Faithful: its sampler warnings
(R-hat, ESS), the mixing in ``trace_k3.png`` and the two-cluster point partition in
``coclustering_k3.png`` show what an unsupported component looks like.
PNGs are written at a modest resolution so that each stays below ~200 kB.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DPI = 90


def _save(fig, path, log):
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    log(f"  wrote {os.path.relpath(path)} ({os.path.getsize(path) / 1024:.0f} kB)")


def _figure_of(pc):
    fig = pc.viz["figure"]
    return fig.item() if hasattr(fig, "item") else fig


def render(k, out, *, draws, tune, chains, seed, log=print):
    """Fit Old Faithful with ``k`` components and write the gallery PNGs for it."""
    import bayesgmm as bg

    X = bg.datasets.load_old_faithful()
    log(f"K={k}: fitting EM + NUTS ({chains} chains x {draws} draws, {tune} tuning steps)")
    t0 = time.perf_counter()
    model = bg.BayesianGMM(k, covariance_type="full", draws=draws, tune=tune, chains=chains,
                           progressbar=False, random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        model.fit(X)
    log(f"  fitted in {time.perf_counter() - t0:.1f} s")
    draw_gallery(model, X, out, suffix=f"k{k}", seed=seed, log=log)
    return model


def draw_gallery(model, X, out, *, suffix, seed=0, log=print):
    """Draw every gallery plot of a fitted model into ``out`` (names end in ``suffix``)."""
    import bayesgmm as bg
    from bayesgmm import posterior

    k = model.n_components
    # every computed input comes from the model or bayesgmm.posterior
    membership = model.membership()
    similarity = posterior.posterior_similarity(model.idata_, X)
    partition = posterior.point_partition(similarity, loss="vi", random_state=seed)
    log(f"  point partition (VI loss): {partition.attrs['n_clusters']} clusters; "
        f"MAP assignment uses {posterior.map_partition(membership).attrs['n_clusters']}")

    ax = bg.plots.clusters(model, partition=posterior.map_partition(membership),
                           n_ellipse_draws=20)
    ax.set_title(f"Old Faithful, K={k}: MAP assignment, 90% ellipses\n"
                 "(light: 20 posterior draws, bold: posterior mean, dashed: EM)")
    _save(ax.figure, os.path.join(out, f"clusters_{suffix}.png"), log)

    for by in ("entropy", "probability"):
        ax = bg.plots.membership_uncertainty(membership, X, by=by)
        _save(ax.figure, os.path.join(out, f"membership_{by}_{suffix}.png"), log)

    ax = bg.plots.coclustering(similarity, partition=partition)
    _save(ax.figure, os.path.join(out, f"coclustering_{suffix}.png"), log)

    try:
        comparison = model.compare_em()
    except (ImportError, AttributeError) as exc:  # posterior.compare_em not available
        log(f"  skipped compare_em: {exc}")
    else:
        ax = bg.plots.compare_em(comparison, var_names=["weights", "means", "sds"])
        _save(ax.figure, os.path.join(out, f"compare_em_{suffix}.png"), log)

    pc = bg.plots.trace(model, var_names=["weights", "means"])
    _save(_figure_of(pc), os.path.join(out, f"trace_{suffix}.png"), log)
    pc = bg.plots.rank(model, var_names=["weights"])
    _save(_figure_of(pc), os.path.join(out, f"rank_{suffix}.png"), log)
    pm = bg.plots.pair(model, var_names=["means"], coords={"component": 0})
    _save(_figure_of(pm), os.path.join(out, f"pair_{suffix}.png"), log)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--components", type=int, nargs="+", default=[2, 3],
                        help="numbers of components to fit (default: 2 3)")
    parser.add_argument("--out", default=HERE, help="output folder (default: docs/gallery)")
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--tune", type=int, default=500)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for k in args.components:
        render(k, args.out, draws=args.draws, tune=args.tune, chains=args.chains, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
