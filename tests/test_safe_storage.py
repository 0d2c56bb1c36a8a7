"""Nothing lost, nothing silently wrong on disk: atomic saves and checked loads.

``save`` must leave a previous file intact whatever happens while it runs (an
interrupt at any point, a full disk, a file-size limit), and ``load`` must turn
any damage (flipped bytes, edited attributes, cut groups, bad JSON) into a
``ValueError`` naming the file, never a wrong model.
"""

import errno
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import warnings

import h5py
import numpy as np
import pytest
import xarray as xr

from bayesgmm import _datatree as dt
from bayesgmm.covariance import COVARIANCE_TYPES
from bayesgmm.datasets import make_mixture
from bayesgmm.exceptions import UnverifiedFileWarning


def _make_tree(n=80, K=2, D=2, covariance_type="full", C=2, S=20, seed=3):
    from bayesgmm.covariance import get_covariance_type
    from bayesgmm.em import GaussianMixture
    from bayesgmm.posterior import pointwise_log_likelihood

    X = make_mixture(n, K, D, random_state=seed).X
    em = GaussianMixture(K, covariance_type=covariance_type, random_state=0).fit(X)
    rng = np.random.default_rng(seed)
    full = get_covariance_type(covariance_type).to_full(em.covariances_, K, n_features=D)
    w = np.abs(em.weights_ + rng.normal(scale=0.01, size=(C, S, K)))
    w /= w.sum(-1, keepdims=True)
    m = em.means_ + rng.normal(scale=0.05, size=(C, S, K, D))
    c = full * np.exp(rng.normal(scale=0.05, size=(C, S, K, 1, 1)))
    names = [f"x{i}" for i in range(D)]
    post = dt.parameter_dataset(w, m, c, feature_names=names, leading=("chain", "draw"),
                                covariance_type=covariance_type)
    ll = pointwise_log_likelihood(post, X).transpose("chain", "draw", "obs").to_numpy()
    return dt.build_tree(
        posterior=post, sample_stats=None, permutation=np.broadcast_to(np.arange(K), (C, S, K)),
        em=em, X=X, feature_names=names, covariance_type=covariance_type, method="nuts",
        model_config={"lkj_eta": 2.0}, sampler_config={"draws": S, "chains": C},
        estimator_params={"n_components": K, "covariance_type": covariance_type,
                          "priors": None, "random_state": 0},
        log_likelihood=ll,
    )


@pytest.fixture(scope="module")
def trees():
    """An old fit (on disk before each save) and a larger new one."""
    return _make_tree(seed=3), _make_tree(n=200, seed=4, S=60)


@pytest.fixture(scope="module")
def old_bytes(trees, tmp_path_factory):
    """The file ``save`` writes for the old tree (written once, copied per test)."""
    path = tmp_path_factory.mktemp("old") / "fit.nc"
    dt.save(trees[0], path)
    return path.read_bytes()


def _only_file(directory, name):
    """The directory holds exactly ``name``: no temporary file was left behind."""
    assert sorted(os.listdir(directory)) == [name]


def _assert_old_intact(path, old_bytes, old_tree):
    with open(path, "rb") as fh:
        assert fh.read() == old_bytes
    xr.testing.assert_identical(dt.load(path), old_tree)


# --------------------------------------------------------------------------- atomic save
@pytest.mark.parametrize("point", ["serialise", "write:0", "write:last", "fsync",
                                   "replace"])
def test_interrupted_save_keeps_the_old_file(tmp_path, trees, old_bytes, monkeypatch, point):
    old, new = trees
    path = tmp_path / "fit.nc"
    path.write_bytes(old_bytes)
    monkeypatch.setattr(dt, "_WRITE_CHUNK", 4096)  # many writes: interrupt between them
    n_chunks = -(-len(new.to_netcdf(None, engine="h5netcdf")) // 4096)
    kind, _, at = point.partition(":")
    calls = {"n": 0}

    def interrupt(real):
        def wrapper(*args, **kwargs):
            if kind == "write":
                target = n_chunks - 1 if at == "last" else int(at)
                calls["n"] += 1
                if calls["n"] - 1 == target:
                    raise KeyboardInterrupt
            else:
                raise KeyboardInterrupt
            return real(*args, **kwargs)

        return wrapper

    if kind == "serialise":
        monkeypatch.setattr(xr.DataTree, "to_netcdf", interrupt(xr.DataTree.to_netcdf))
    else:
        name = {"write": "write", "fsync": "fsync", "replace": "replace"}[kind]
        monkeypatch.setattr(os, name, interrupt(getattr(os, name)))
    with pytest.raises(KeyboardInterrupt):
        dt.save(new, path)
    monkeypatch.undo()
    _only_file(tmp_path, "fit.nc")
    _assert_old_intact(path, old_bytes, old)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")  # a signal in a __del__
def test_save_interrupted_by_a_real_signal_from_a_timer_thread(tmp_path, trees, old_bytes):
    """SIGINT delivered at several moments: either the old or the new tree, never a mix."""
    old, new = trees
    path = tmp_path / "fit.nc"
    path.write_bytes(old_bytes)
    outcomes = set()
    for delay in (0.0, 0.01, 0.05):
        timer = threading.Timer(delay, signal.pthread_kill,
                                (threading.main_thread().ident, signal.SIGINT))
        try:
            timer.start()
            dt.save(new, path)
            time.sleep(0.2)  # let a late signal arrive here, not in the next save
        except KeyboardInterrupt:
            outcomes.add("interrupted")
        finally:
            timer.join()
        loaded = dt.load(path)
        if loaded.identical(new):
            outcomes.add("new")
            path.write_bytes(old_bytes)
        else:
            xr.testing.assert_identical(loaded, old)
        _only_file(tmp_path, "fit.nc")
    assert "interrupted" in outcomes


def test_save_killed_in_a_subprocess_keeps_the_old_file(tmp_path, trees, old_bytes):
    """SIGKILL (no clean-up at all) while a child process overwrites the file in a loop."""
    old, new = trees
    path = tmp_path / "fit.nc"
    path.write_bytes(old_bytes)
    new_path = tmp_path / "new.nc"
    dt.save(new, new_path)
    code = (
        "import sys, time\n"
        "from bayesgmm import _datatree as dt\n"
        f"old = dt.load({str(path)!r}); new = dt.load({str(new_path)!r})\n"
        "print('ready', flush=True)\n"
        "while True:\n"
        f"    dt.save(new, {str(path)!r}); dt.save(old, {str(path)!r})\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(dt.__file__)), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([os.sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    loaded = dt.load(path)
    assert loaded.identical(old) or loaded.identical(new)
    leftovers = [f for f in os.listdir(tmp_path) if f not in ("fit.nc", "new.nc")]
    assert all(f.startswith(".fit.nc.") and f.endswith(".tmp") for f in leftovers)


def test_save_on_a_full_disk_keeps_the_old_file(tmp_path, trees, old_bytes, monkeypatch):
    old, new = trees
    path = tmp_path / "fit.nc"
    path.write_bytes(old_bytes)
    monkeypatch.setattr(dt, "_WRITE_CHUNK", 4096)
    real_write, calls = os.write, {"n": 0}

    def full_disk(fd, data):
        calls["n"] += 1
        if calls["n"] > 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError, match="No space left on device") as info:
        dt.save(new, path)
    monkeypatch.undo()
    assert info.value.errno == errno.ENOSPC
    assert repr(str(path)) in str(info.value) and "unchanged" in str(info.value)
    _only_file(tmp_path, "fit.nc")
    _assert_old_intact(path, old_bytes, old)


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file-size limits")
def test_save_past_a_file_size_limit_keeps_the_old_file(tmp_path, trees, old_bytes):
    """A real I/O error from the kernel (EFBIG) without root: RLIMIT_FSIZE."""
    import resource

    old, new = trees
    path = tmp_path / "fit.nc"
    path.write_bytes(old_bytes)
    limit = len(old_bytes) + 1024
    assert len(new.to_netcdf(None, engine="h5netcdf")) > limit
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
        with pytest.raises(OSError, match="Could not save") as info:
            dt.save(new, path)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert info.value.errno == errno.EFBIG
    _only_file(tmp_path, "fit.nc")
    _assert_old_intact(path, old_bytes, old)


def _mount_tiny_tmpfs(where):
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("mount") is None:
        return "mounting a tmpfs needs root and mount(8)"
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96k", "tmpfs", str(where)],
                         capture_output=True, text=True)
    if res.returncode != 0:
        return f"cannot mount a tmpfs here: {res.stderr.strip() or res.returncode}"
    return None


def test_save_on_a_real_full_filesystem(tmp_path, trees, old_bytes):
    """A 96 KiB tmpfs: the new file does not fit, the old one survives, no crash."""
    old, new = trees
    mnt = tmp_path / "tiny"
    reason = _mount_tiny_tmpfs(mnt)
    if reason:
        pytest.skip(reason)
    try:
        path = mnt / "fit.nc"
        path.write_bytes(old_bytes)
        assert len(new.to_netcdf(None, engine="h5netcdf")) > 96 * 1024
        with pytest.raises(OSError, match="No space left on device"):
            dt.save(new, path)
        _only_file(mnt, "fit.nc")
        _assert_old_intact(path, old_bytes, old)
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_save_keeps_permissions_and_follows_symlinks(tmp_path, trees):
    old, new = trees
    path = tmp_path / "fit.nc"
    dt.save(old, path)
    os.chmod(path, 0o640)
    dt.save(new, path)
    assert os.stat(path).st_mode & 0o777 == 0o640
    link = tmp_path / "link.nc"
    os.symlink(path, link)
    dt.save(old, link)
    assert os.path.islink(link)
    xr.testing.assert_identical(dt.load(path), old)


def test_save_path_errors(tmp_path, trees):
    old, _ = trees
    with pytest.raises(ValueError, match="empty string"):
        dt.save(old, "")
    with pytest.raises(ValueError, match="is a directory"):
        dt.save(old, tmp_path)
    if os.geteuid() != 0:  # root writes anywhere
        ro = tmp_path / "ro"
        ro.mkdir()
        os.chmod(ro, 0o500)
        with pytest.raises(PermissionError, match="Could not save"):
            dt.save(old, ro / "fit.nc")


# --------------------------------------------------------------------------- checked load
def _saved(tmp_path, data, name="fit.nc"):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_flipped_bytes_in_the_data_are_an_error(tmp_path, trees, old_bytes):
    old, _ = trees
    path = _saved(tmp_path, old_bytes)
    raw = bytearray(path.read_bytes())
    X = dt.get_observed(old).to_numpy()
    where = raw.find(np.ascontiguousarray(X).tobytes()[:64])
    assert where > 0
    raw[where + 8 : where + 72] = bytes(b ^ 0xFF for b in raw[where + 8 : where + 72])
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum does not match") as info:
        dt.load(path)
    assert repr(str(path)) in str(info.value)


def test_flipped_bytes_anywhere_never_load_a_wrong_tree(tmp_path, trees, old_bytes):
    old, _ = trees
    path = _saved(tmp_path, old_bytes)
    good = path.read_bytes()
    errors = 0
    for offset in np.linspace(0, len(good) - 64, 10).astype(int):
        raw = bytearray(good)
        raw[offset : offset + 64] = bytes(b ^ 0x5A for b in raw[offset : offset + 64])
        path.write_bytes(bytes(raw))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", UnverifiedFileWarning)
                loaded = dt.load(path)
        except ValueError as exc:
            assert repr(str(path)) in str(exc)
            errors += 1
        else:  # the flip hit unused space: the tree must be exactly the saved one
            xr.testing.assert_identical(loaded, old)
    assert errors >= 5


def _edit_root_attr(path, key, value):
    with h5py.File(path, "r+") as f:
        if value is None:
            del f.attrs[key]
        else:
            f.attrs[key] = value


@pytest.mark.parametrize("key,value", [("covariance_type", "diag"), ("n_components", 3),
                                       ("estimator_params", "{not json")])
def test_edited_attributes_fail_the_checksum(tmp_path, old_bytes, key, value):
    path = _saved(tmp_path, old_bytes)
    _edit_root_attr(path, key, value)
    with pytest.raises(ValueError, match="checksum does not match"):
        dt.load(path)


def _unchecked(tmp_path, tree, name="fit.nc"):
    """``tree`` written without a checksum, as an older bayesgmm (or an editor) would."""
    path = tmp_path / name
    tree.to_netcdf(path, engine="h5netcdf")
    return path


def test_file_without_checksum_loads_with_a_warning(tmp_path, trees):
    path = _unchecked(tmp_path, trees[0])
    with pytest.warns(UnverifiedFileWarning, match="no checksum"):
        loaded = dt.load(path)
    xr.testing.assert_identical(loaded, trees[0])


def _cut_em_to_one_feature(tree):
    em = tree["em"].to_dataset().isel(feature=[0], feature_bis=[0])
    out = tree.copy()
    out["em"] = xr.DataTree(em)
    return out


def _with_attr(key, value, group=None):
    def edit(tree):
        out = tree.copy()
        node = out if group is None else out[group]
        node.attrs = {**node.attrs, key: value}
        return out

    return edit


def _all_diag(tree):
    """Every covariance_type attribute says diag; the full covariances say otherwise."""
    out = _with_attr("covariance_type", "diag")(_with_attr("covariance_type", "diag", "em")(tree))
    for node, key in ((out, "estimator_params"), (out["em"], "params")):
        params = json.loads(node.attrs[key])
        params["covariance_type"] = "diag"
        node.attrs = {**node.attrs, key: json.dumps(params)}
    return out


def _without(group):
    def edit(tree):
        out = xr.DataTree.from_dict(
            {n.path: n.to_dataset(inherit=False) for n in tree.subtree if n.name != group
             and n.path != "/"}
        )
        out.attrs = dict(tree.attrs)
        return out

    return edit


@pytest.mark.parametrize("edit,match", [
    (_with_attr("covariance_type", "diag"), "covariance_type 'full' differs from the root's 'diag'"),
    (lambda t: _all_diag(t), "not of the file's covariance_type 'diag'"),
    (_with_attr("covariance_type", "banana"), "unknown covariance_type"),
    (_with_attr("n_components", 3), "2 components but n_components is 3"),
    (_with_attr("n_components", "x"), "not a positive integer"),
    (_cut_em_to_one_feature, "em/means has 1 features but the observed data has 2"),
    (_with_attr("estimator_params", "{not json"), "'estimator_params' is not valid JSON"),
    (_with_attr("model_config", "[1, 2]"), "'model_config' is not a JSON object"),
    (_with_attr("params", "{oops", group="em"), "'params' attribute is not valid JSON"),
    (_with_attr("covariance_type", "tied", group="em"), "differs from the root's"),
    (_with_attr("estimator_params", json.dumps({"n_components": 5})), "n_components=5"),
    (_without("em"), "the 'em' group is missing"),
    (_without("posterior"), "the 'posterior' group is missing"),
])
def test_inconsistent_files_are_a_clear_error(tmp_path, trees, edit, match):
    path = _unchecked(tmp_path, edit(trees[0]))
    with pytest.warns(UnverifiedFileWarning), pytest.raises(ValueError, match=match) as info:
        dt.load(path)
    assert repr(str(path)) in str(info.value) and "not a consistent bayesgmm result" in str(
        info.value)


def test_nan_log_likelihood_and_short_groups_are_errors(tmp_path, trees):
    tree = trees[0].copy()
    ll = tree["log_likelihood"].to_dataset()
    tree["log_likelihood"] = xr.DataTree(ll.assign(X=ll["X"] * np.nan))
    with pytest.warns(UnverifiedFileWarning), pytest.raises(ValueError, match="contains NaN"):
        dt.load(_unchecked(tmp_path, tree, "nan.nc"))
    tree = trees[0].copy()
    tree["log_likelihood"] = xr.DataTree(ll.isel(obs=slice(0, 5)))
    with pytest.warns(UnverifiedFileWarning), pytest.raises(ValueError, match="5 observations"):
        dt.load(_unchecked(tmp_path, tree, "short.nc"))


def test_truncated_file_is_an_error(tmp_path, old_bytes):
    path = _saved(tmp_path, old_bytes)
    raw = path.read_bytes()
    for keep in (len(raw) // 3, len(raw) // 2, len(raw) - 100):
        path.write_bytes(raw[:keep])
        with pytest.raises(ValueError) as info:
            dt.load(path)
        assert repr(str(path)) in str(info.value)


def test_unknown_em_parameter_is_a_clear_error_in_the_estimator(tmp_path, trees):
    from bayesgmm import BayesianGMM

    em = trees[0]["em"]
    params = json.loads(em.attrs["params"])
    params["no_such_parameter"] = 1
    path = _unchecked(tmp_path, _with_attr("params", json.dumps(params), group="em")(trees[0]))
    with pytest.warns(UnverifiedFileWarning), pytest.raises(ValueError,
                                                           match="cannot rebuild") as info:
        BayesianGMM.load(path)
    assert "no_such_parameter" in str(info.value) and repr(str(path)) in str(info.value)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_every_covariance_type_passes_the_checks(tmp_path, covariance_type):
    tree = _make_tree(n=40, S=5, covariance_type=covariance_type)
    path = tmp_path / "fit.nc"
    dt.save(tree, path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        xr.testing.assert_identical(dt.load(path), tree)


def test_saved_and_loaded_model_is_checked_and_identical(tmp_path, trees):
    path = tmp_path / "fit.nc"
    dt.save(trees[1], path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedFileWarning)
        loaded = dt.load(path)
    xr.testing.assert_identical(loaded, trees[1])
    assert dt.CHECKSUM_ATTR not in loaded.attrs
    with h5py.File(path, "r") as f:
        assert str(f.attrs[dt.CHECKSUM_ATTR]) == dt.tree_digest(trees[1])
