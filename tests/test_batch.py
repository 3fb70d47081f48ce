"""fit_many: equals per-analysis rma / exact_posterior; the same numbers on a Dask LocalCluster."""

from __future__ import annotations

import warnings
from collections.abc import Iterator

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

from bayesmeta import DataError, ModelSpecError, batch, exact_posterior, rma
from bayesmeta.batch import EXACT_COLUMNS, FREQUENTIST_COLUMNS, fit_many
from bayesmeta.exact import exact_posterior_batch
from bayesmeta.priors import HalfNormal, ImproperUniform, Normal
from tests.mixture_cases import HARD_PROBS, hard_mixtures

TAU = HalfNormal(0.5)
MU = Normal(0, 2)


def _long_table(n: int = 40, seed: int = 7) -> pd.DataFrame:
    """Ragged analyses (k = 1..9, including k = 1 and 2), rows shuffled across analyses."""
    rng = np.random.default_rng(seed)
    ks = rng.integers(1, 10, size=n)
    ks[:3] = [1, 2, 1]
    key = np.repeat([f"ma{i:03d}" for i in range(n)], ks)
    m = key.size
    df = pd.DataFrame(
        {
            "meta_analysis": key,
            "yi": rng.normal(0.2, 0.4, m),
            "vi": rng.uniform(0.01, 0.2, m),
        }
    )
    return df.sample(frac=1.0, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return _long_table()


def _per_group_rma(df: pd.DataFrame, method: str, test: str = "z") -> pd.DataFrame:
    rows = {}
    for key, sub in df.groupby("meta_analysis", sort=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = rma(sub["yi"].to_numpy(), sub["vi"].to_numpy(), method=method, test=test)
        p = r.predict()
        rows[key] = {
            "k": r.k, "beta": r.beta[0], "se": r.se[0], "zval": r.zval[0], "pval": r.pval[0],
            "ci_lb": r.ci_lb[0], "ci_ub": r.ci_ub[0], "pi_lb": p.pi_lb[0], "pi_ub": p.pi_ub[0],
            "tau2": r.tau2, "se_tau2": r.se_tau2, "I2": r.I2, "H2": r.H2, "QE": r.QE,
            "QEp": r.QEp,
        }  # fmt: skip
    return pd.DataFrame.from_dict(rows, orient="index")


@pytest.mark.parametrize(
    ("method", "test"), [("DL", "z"), ("EE", "z"), ("DL", "knha"), ("REML", "z"), ("PM", "knha")]
)
def test_frequentist_equals_rma_per_group(table: pd.DataFrame, method: str, test: str) -> None:
    out = fit_many(table, method=method, test=test, chunk_size=7)
    ref = _per_group_rma(table, method, test)
    assert out["meta_analysis"].tolist() == ref.index.tolist()
    assert (out["k"].to_numpy() == ref["k"].to_numpy()).all()
    for col in FREQUENTIST_COLUMNS:
        np.testing.assert_allclose(
            out[col].to_numpy(), ref[col].to_numpy(dtype=float), rtol=1e-10, atol=1e-12,
            err_msg=col,
        )  # fmt: skip


def test_exact_equals_exact_posterior_per_group(table: pd.DataFrame) -> None:
    out = fit_many(table, method="exact", tau_prior=TAU, mu_prior=MU, chunk_size=5)
    assert list(out.columns) == ["meta_analysis", "k", *EXACT_COLUMNS, "note"]
    for i, (_, sub) in enumerate(table.groupby("meta_analysis", sort=True)):
        post = exact_posterior(sub["yi"], np.sqrt(sub["vi"]), tau_prior=TAU, mu_prior=MU)
        summ = post.summary()
        row = out.iloc[i]
        assert row["n_nodes"] == post.n_nodes
        for p in ("mu", "tau", "tau2", "theta_new"):
            for stat in ("mean", "sd", "median", "ci_lb", "ci_ub"):
                assert row[f"{p}_{stat}"] == pytest.approx(
                    summ.loc[p, stat], rel=1e-10, abs=1e-10
                ), (i, p, stat)
        assert row["prob_mu_gt_0"] == pytest.approx(post.prob("mu"), abs=1e-10)
        assert row["log_marginal_likelihood"] == pytest.approx(
            post.log_marginal_likelihood, rel=1e-10
        )


def test_chunking_does_not_change_numbers(table: pd.DataFrame) -> None:
    kw = {"method": ["DL", "exact"], "tau_prior": TAU}
    a = fit_many(table, chunk_size=1, **kw)
    b = fit_many(table, chunk_size=10_000, **kw)
    # the exact engine's vectorised quantile solver stops when a whole batch has converged, so the
    # last bits can depend on which analyses share a batch: equal to 1e-12, not bit for bit
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12, atol=1e-14)


def test_threads_do_not_change_a_bit(table: pd.DataFrame) -> None:
    # blocks are independent: one thread or several give the same numbers, bit for bit
    kw = {"method": ["DL", "exact"], "tau_prior": TAU, "mu_prior": MU}
    pd.testing.assert_frame_equal(
        fit_many(table, workers=1, **kw), fit_many(table, workers=3, **kw), check_exact=True
    )
    Y, S = _padded(table)
    one = exact_posterior_batch(Y, S, tau_prior=TAU, block=2, workers=1)
    many = exact_posterior_batch(Y, S, tau_prior=TAU, block=2, workers=4)
    pd.testing.assert_frame_equal(one, many, check_exact=True)
    with pytest.raises(ModelSpecError, match="workers"):
        exact_posterior_batch(Y, S, tau_prior=TAU, workers=0)


def _padded(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(analyses, k_max) arrays of yi and sqrt(vi), NaN-padded, analyses with k >= 2."""
    groups = [g for _, g in df.groupby("meta_analysis", sort=True) if len(g) >= 2]
    K = max(len(g) for g in groups)
    Y = np.full((len(groups), K), np.nan)
    S = np.full((len(groups), K), np.nan)
    for i, g in enumerate(groups):
        Y[i, : len(g)] = g["yi"]
        S[i, : len(g)] = np.sqrt(g["vi"])
    return Y, S


def test_k1_groups_are_reported_not_dropped(table: pd.DataFrame) -> None:
    # flat priors on mu and tau: the posterior is improper for k < 3
    out = fit_many(table, method=["REML", "exact"], tau_prior=ImproperUniform())
    one = out[out["k"] == 1]
    assert len(one) >= 2
    assert one["tau2"].isna().all()
    assert one["note"].str.contains("k = 1: tau2 not estimable").all()
    # an improper exact posterior gives NaN and a note, not an error
    small = out[out["k"] < 3]
    assert small["mu_mean"].isna().all()
    assert small["note"].str.contains("improper").all()
    assert out.loc[out["k"] >= 3, "mu_median"].notna().all()
    sub = table[table["meta_analysis"] == one["meta_analysis"].iloc[0]]
    assert one["beta"].iloc[0] == pytest.approx(sub["yi"].iloc[0], rel=1e-12)
    # with a proper mu prior k = 1 has an exact posterior
    proper = fit_many(table, method="exact", tau_prior=TAU, mu_prior=MU)
    assert proper.loc[proper["k"] == 1, "mu_mean"].notna().all()


def test_sei_column_and_integer_keys() -> None:
    df = pd.DataFrame(
        {"study_set": [3, 3, 3, 1, 1], "est": [0.1, 0.3, 0.2, -0.1, 0.4],
         "se": np.sqrt([0.01, 0.02, 0.015, 0.03, 0.02])}
    )  # fmt: skip
    out = fit_many(df, key="study_set", yi="est", sei="se", method="DL")
    assert out["study_set"].tolist() == [1, 3]
    ref = rma([0.1, 0.3, 0.2], [0.01, 0.02, 0.015], method="DL")
    assert out["beta"].iloc[1] == pytest.approx(float(ref.beta[0]), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "err", "match"),
    [
        ({"key": "review"}, DataError, "'review'"),
        ({"yi": "effect"}, DataError, "'effect'"),
        ({"vi": "vi", "sei": "sei"}, ModelSpecError, "at most one"),
        ({"method": "BAD"}, ModelSpecError, "unknown method"),
        ({"method": ["DL", "REML"]}, ModelSpecError, "at most one frequentist"),
        ({"method": "exact"}, ModelSpecError, "needs tau_prior"),
        ({"method": "DL", "tau_prior": TAU}, ModelSpecError, "only with method 'exact'"),
        ({"method": "exact", "tau_prior": "normal(0, 1)"}, ModelSpecError, "tau_prior"),
        ({"chunk_size": 0}, ModelSpecError, "chunk_size"),
        ({"workers": 0}, ModelSpecError, "workers"),
        ({"workers": 1.5}, ModelSpecError, "workers"),
        ({"test": "t"}, ModelSpecError, "test"),
    ],
)
def test_bad_arguments(table: pd.DataFrame, kwargs: dict, err: type, match: str) -> None:
    with pytest.raises(err, match=match):
        fit_many(table, **kwargs)


def test_bad_values_name_the_row() -> None:
    df = pd.DataFrame({"meta_analysis": ["a", "a", "b"], "yi": [0.1, 0.2, 0.3], "vi": [0.1, 0, 1]})
    with pytest.raises(DataError, match=r"row\(s\) 2") as info:
        fit_many(df, method="DL")
    assert info.value.column == "vi"
    df2 = df.assign(vi=[0.1, 0.2, 0.3], yi=[0.1, np.nan, 0.3])
    with pytest.raises(DataError, match="yi must be finite"):
        fit_many(df2, method="DL")
    df3 = df.assign(vi=[0.1, 0.2, 0.3], meta_analysis=["a", None, "b"])
    with pytest.raises(DataError, match="missing"):
        fit_many(df3, method="DL")
    with pytest.raises(DataError, match="neither a 'vi' nor a 'sei'"):
        fit_many(df.drop(columns="vi"), method="DL")
    with pytest.raises(DataError, match="DataFrame"):
        fit_many({"yi": [1.0]}, method="DL")


# ------------------------------------------------------------------------------------------------
# Dask: identical numbers on a LocalCluster
# ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


@pytest.mark.parametrize("method", [["DL", "exact"], ["REML", "exact"]])
def test_local_cluster_gives_identical_numbers(
    table: pd.DataFrame, client: Client, method: list[str]
) -> None:
    kw = {"method": method, "tau_prior": TAU, "mu_prior": MU}
    local = fit_many(table, **kw)
    dist = fit_many(table, scheduler=client, chunk_size=6, **kw)
    pd.testing.assert_frame_equal(dist, local, check_exact=False, rtol=1e-12, atol=1e-14)


def test_dask_dataframe_input_and_address(table: pd.DataFrame, client: Client) -> None:
    kw = {"method": ["DL", "exact"], "tau_prior": TAU}
    local = fit_many(table, **kw)
    ddf = dd.from_pandas(table, npartitions=4)  # analyses straddle partitions
    dist = fit_many(ddf, scheduler=client.scheduler.address, **kw)
    # a Dask input keeps Dask's string dtype for the key
    dist["meta_analysis"] = dist["meta_analysis"].astype(local["meta_analysis"].dtype)
    pd.testing.assert_frame_equal(dist, local, check_exact=False, rtol=1e-12, atol=1e-14)
    with pytest.raises(ModelSpecError, match="scheduler"):
        fit_many(ddf, **kw)


def test_dask_frame_indexed_by_key_is_fitted_without_a_shuffle(
    table: pd.DataFrame, client: Client
) -> None:
    kw = {"method": ["DL", "exact"], "tau_prior": TAU, "mu_prior": MU}
    local = fit_many(table, **kw)
    ddf = dd.from_pandas(table.set_index("meta_analysis"), npartitions=3, sort=True)
    assert ddf.known_divisions
    dist = fit_many(ddf, scheduler=client, **kw)
    dist["meta_analysis"] = dist["meta_analysis"].astype(local["meta_analysis"].dtype)
    pd.testing.assert_frame_equal(dist, local, check_exact=False, rtol=1e-12, atol=1e-14)


class _FakeLibc:
    """Records the allocator calls of ``_heap_for_temporaries``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int] | tuple[str, int]] = []

    def mallopt(self, param: int, value: int) -> int:
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad: int) -> int:
        self.calls.append(("malloc_trim", pad))
        return 1


def test_worker_heap_settings_are_raised_once_and_restored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # on a Dask worker (MALLOC_TRIM_THRESHOLD_ set by the nanny) the thresholds go up while any
    # partition is fitted, and the environment's values come back after the last one
    fake = _FakeLibc()
    monkeypatch.setitem(batch._HEAP, "libc", fake)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    trim, mmap = batch._M_TRIM_THRESHOLD, batch._M_MMAP_THRESHOLD
    with batch._heap_for_temporaries():
        with batch._heap_for_temporaries():  # a second partition on another thread
            pass
        raised = list(fake.calls)
    assert raised == [
        ("mallopt", mmap, batch._MMAP_MAX),
        ("mallopt", trim, 4 * batch._MMAP_MAX),
    ]
    assert fake.calls[2:] == [
        ("mallopt", mmap, batch._MMAP_DEFAULT),
        ("mallopt", trim, 65536),
        ("malloc_trim", 0),
    ]
    # outside a Dask worker nothing is touched
    fake.calls.clear()
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    with batch._heap_for_temporaries():
        pass
    assert fake.calls == []


#: Two solvers of the same equation F(x) = q stop at different iterates within rounding of the
#: root (F is summed to ~1e-16 over up to ~300 components): far inside this.
QUANTILE_AGREE = 1e-12


def test_batch_quantile_solver_finds_the_reference_roots(monkeypatch: pytest.MonkeyPatch) -> None:
    # the batch's compiled solver (the single summary's mix_table, rows with their own weights)
    # against numpy's Halley solver (the reference), on hard mixtures: Dirichlet(0.3) weights,
    # means and sds over two orders of magnitude
    pytest.importorskip("numba", reason="numba is optional: the compiled kernels need it")
    from bayesmeta.exact import _batch, _mixtures

    rng = np.random.default_rng(11)
    R, N = 200, 120
    W, m, s = hard_mixtures(rng, R, N)
    W[:, :10] = 0.0  # left out, as components of weight <= 1e-18 are
    W /= W.sum(1, keepdims=True)
    q = np.tile(HARD_PROBS, (R, 1))
    with np.errstate(all="ignore"):
        monkeypatch.setenv("BAYESMETA_NUMBA", "0")
        ref = _mixtures._mix_quantile(W, m, s, q)
        monkeypatch.setenv("BAYESMETA_NUMBA", "1")
        got = _batch._quantiles(W, m, s, q[0])
        F = _mixtures._mix_cdf(W, m, s, got)
    assert np.abs(got - ref).max() / max(1.0, np.abs(ref).max()) <= QUANTILE_AGREE
    assert np.abs(F - q).max() <= 1e-13  # the roots solve the equation


@pytest.mark.parametrize("kind", ["eti", "hdi"])
def test_compiled_threaded_batch_equals_numpy_single_fits(
    monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    # the whole fast path (compiled kernels, two threads) against lone
    # numpy fits of each analysis
    pytest.importorskip("numba", reason="numba is optional: the compiled kernels need it")
    rng = np.random.default_rng(21)
    M, K = 60, 20
    ks = rng.integers(2, K + 1, size=M)
    S = rng.uniform(0.05, 0.6, size=(M, K))
    Y = rng.normal(0.2, np.sqrt(S**2 + rng.uniform(0, 0.3, size=(M, 1))))
    cut = np.arange(K)[None, :] >= ks[:, None]
    Y[cut], S[cut] = np.nan, np.nan
    monkeypatch.setenv("BAYESMETA_NUMBA", "1")
    tab = exact_posterior_batch(Y, S, tau_prior=TAU, mu_prior=MU, ci_kind=kind, block=16, workers=2)
    monkeypatch.setenv("BAYESMETA_NUMBA", "0")
    for i in range(M):
        k = int(ks[i])
        post = exact_posterior(Y[i, :k], S[i, :k], tau_prior=TAU, mu_prior=MU)
        summ = post.summary(ci_kind=kind)
        row = tab.iloc[i]
        assert row["n_nodes"] == post.n_nodes
        for p in ("mu", "tau", "tau2", "theta_new"):
            for stat in ("mean", "sd", "median", "ci_lb", "ci_ub"):
                want, got = float(summ.loc[p, stat]), float(row[f"{p}_{stat}"])
                assert abs(got - want) <= QUANTILE_AGREE * max(1.0, abs(want)), (i, p, stat)
