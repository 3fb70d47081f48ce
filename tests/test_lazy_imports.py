"""Heavy libraries load only when used: the exact engine's command line fit and the numpy cores
import neither PyMC, PyTensor, matplotlib, ArviZ, Dask, numba, scipy.stats nor scipy.optimize.

Each case runs in a fresh interpreter and reads ``sys.modules`` afterwards, so the check does not
depend on the machine's speed (timings belong to ``benchmarks/bench_cli_import.py``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BCG = ROOT / "bayesmeta" / "datasets" / "bcg.csv"

#: Loaded only by NUTS, figures, MCMC diagnostics or the Dask batch path.
HEAVY = ("pymc", "pytensor", "matplotlib", "arviz", "dask", "numba")
#: scipy.stats takes longer to import than the whole exact fit; its special functions suffice.
#: scipy.optimize (sparse matrices, FFT, spatial) serves only the Q-profile interval of tau2 and
#: the Paule-Mandel estimator; the command line's tables show neither.
NOT_ON_FIT_PATH = (*HEAVY, "scipy.stats", "scipy.optimize")

FIT = (
    "import sys\n"
    "from bayesmeta.cli import main\n"
    "code = main(['fit', {bcg!r}, '--measure', 'RR', '--columns',\n"
    "             'study=trial,ai=tpos,bi=tneg,ci=cpos,di=cneg', '--quiet'])\n"
    "assert code == 0, code\n"
)


def _loaded_after(code: str, watch: tuple[str, ...]) -> list[str]:
    """Run ``code`` in a fresh interpreter; return which of ``watch`` it left in sys.modules."""
    probe = (
        code + f"import json, sys\nprint(json.dumps([m for m in {watch!r} if m in sys.modules]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    loaded: list[str] = json.loads(proc.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize(
    "statement",
    [
        "import bayesmeta",
        "import bayesmeta.exact",
        "import bayesmeta.frequentist",
        "import bayesmeta.cli",
        "from bayesmeta import EffectTable, RandomEffects, rma",
    ],
)
def test_imports_stay_light(statement: str) -> None:
    assert _loaded_after(statement + "\n", NOT_ON_FIT_PATH) == []


def test_cli_fit_with_the_exact_engine_loads_no_heavy_library() -> None:
    """``bayesmeta fit`` on BCG (default engine: exact) prints both tables without them."""
    assert _loaded_after(FIT.format(bcg=str(BCG)), NOT_ON_FIT_PATH) == []


def test_exact_fit_and_summaries_load_no_heavy_library() -> None:
    """The library route: exact fit, comparison with metafor, diagnostics (``summary()`` is
    ArviZ's, with ESS and R-hat of the draws, so it loads ArviZ)."""
    code = (
        "import warnings\n"
        "from bayesmeta import EffectTable, RandomEffects, datasets\n"
        "tab = EffectTable.from_arms(datasets.load_bcg(), 'RR', columns={'study': 'trial',\n"
        "    'ai': 'tpos', 'bi': 'tneg', 'ci': 'cpos', 'di': 'cneg'})\n"
        "res = RandomEffects(tab).fit(engine='exact', random_seed=1)\n"
        "assert res.engine == 'exact'\n"
        "res.compare(); res.heterogeneity(); res.diagnostics()\n"
    )
    # xarray's own Dask detection is left alone outside the command line, so Dask may load here
    assert _loaded_after(code, tuple(m for m in NOT_ON_FIT_PATH if m != "dask")) == []


def test_tau2_interval_loads_scipy_optimize_when_read() -> None:
    """The guard is not vacuous: a REML fit leaves scipy.optimize unloaded until its Q-profile
    interval of tau2 is read, which solves for the bounds with scipy.optimize."""
    code = (
        "import sys\n"
        "from bayesmeta import rma\n"
        "res = rma([0.1, 0.3, 0.35, 0.6], [0.04, 0.02, 0.05, 0.03], method='REML')\n"
        "assert 'scipy.optimize' not in sys.modules\n"
        "assert 0 <= res.tau2_ci_lb <= res.tau2 <= res.tau2_ci_ub\n"
    )
    assert _loaded_after(code, ("scipy.optimize",)) == ["scipy.optimize"]


def test_nuts_still_loads_pymc_when_asked() -> None:
    """The guard is not vacuous: building a PyMC model does import PyMC."""
    pytest.importorskip("pymc")
    code = (
        "import pandas as pd\n"
        "from bayesmeta import EffectTable, RandomEffects\n"
        "frame = pd.DataFrame({'study': list('abc'), 'yi': [0.1, 0.3, -0.2],\n"
        "                      'vi': [0.04, 0.05, 0.03]})\n"
        "tab = EffectTable(frame, measure='SMD')\n"
        "RandomEffects(tab).build()\n"
    )
    assert _loaded_after(code, ("pymc", "pytensor")) == ["pymc", "pytensor"]


def test_deferred_dask_detection_still_recognises_dask_arrays() -> None:
    """After the command line's deferral, Dask arrays made later are still Dask arrays to xarray."""
    pytest.importorskip("dask.array")
    code = (
        "import sys\n"
        "import numpy as np, xarray as xr\n"
        "from bayesmeta.cli import _defer_dask_detection\n"
        "_defer_dask_detection()\n"
        "plain = xr.DataArray(np.arange(3.0), dims='x', coords={'x': [1, 2, 3]})\n"
        "assert 'dask' not in sys.modules and plain.chunks is None\n"
        "import dask.array as da\n"
        "lazy = xr.DataArray(da.ones(4, chunks=2), dims='x')\n"
        "assert lazy.chunks == ((2, 2),), lazy.chunks\n"
        "assert float((lazy * 2).sum().compute()) == 8.0\n"
        "assert xr.DataArray(np.zeros(2)).chunks is None\n"
    )
    assert _loaded_after(code, ("dask",)) == ["dask"]
