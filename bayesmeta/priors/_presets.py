"""Empirical heterogeneity priors: Turner et al. (2015) and Rhodes et al. (2015).

The published tables are data, not code: ``data/turner2015.csv`` and ``data/rhodes2015.csv``,
each with a JSON sidecar of the same name holding the source (paper, table, page), the
general-setting values, the comparator pairs and the meaning of the columns. They are read once,
on first use, with :mod:`importlib.resources`.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from bayesmeta.errors import ModelSpecError
from bayesmeta.priors._core import LogNormal, LogStudentT


@dataclass(frozen=True)
class _Table:
    """A table of ``(location, scale)`` of ``log(tau**2)`` and its sidecar's metadata."""

    meta: dict[str, Any]
    values: dict[tuple[str, str, str], tuple[float, float]]  # (area, outcome, comparison)
    areas: tuple[str, ...]
    outcomes: tuple[str, ...]
    comparisons: tuple[str, ...]


@functools.cache
def _table(name: str) -> _Table:
    data = resources.files("bayesmeta.priors").joinpath("data")
    meta = json.loads(data.joinpath(f"{name}.json").read_text(encoding="utf-8"))
    rows = list(csv.DictReader(io.StringIO(data.joinpath(f"{name}.csv").read_text("utf-8"))))
    keys = [
        (r.get("medical_area", ""), r["outcome_type"], r["intervention_comparison"]) for r in rows
    ]
    return _Table(
        meta=meta,
        values={
            k: (float(r["location"]), float(r["scale"])) for k, r in zip(keys, rows, strict=True)
        },
        areas=tuple(dict.fromkeys(k[0] for k in keys)),
        outcomes=tuple(dict.fromkeys(k[1] for k in keys)),
        comparisons=tuple(dict.fromkeys(k[2] for k in keys)),
    )


def _match(value: str, choices: tuple[str, ...], what: str) -> str:
    """R-style ``match.arg``: exact or unique prefix match, case-insensitive."""
    v = value.strip().lower()
    exact = [c for c in choices if c.lower() == v]
    if exact:
        return exact[0]
    hits = [c for c in choices if c.lower().startswith(v)]
    if len(hits) == 1:
        return hits[0]
    listing = "; ".join(repr(c) for c in choices)
    kind = "ambiguous" if hits else "unknown"
    raise ModelSpecError(f"{kind} {what} {value!r}; choose one of: {listing}")


def _comparison(value: str | tuple[str, str] | None, table: _Table) -> str:
    """Return the comparison type named by ``value``: a type (or prefix) or a comparator pair."""
    comparators = tuple(table.meta["comparators"])
    if value is None:
        raise ModelSpecError(
            "intervention_comparison is required when outcome_type is given; "
            f"choose one of: {'; '.join(repr(c) for c in table.comparisons)}, or a pair of "
            f"comparators from {comparators}"
        )
    if isinstance(value, str):
        return _match(value, table.comparisons, "intervention comparison")
    try:
        a, b = value
    except (TypeError, ValueError):
        raise ModelSpecError(
            f"intervention_comparison must be a string or a pair of comparators, got {value!r}"
        ) from None
    pairs = {(c1, c2): kind for c1, c2, kind in table.meta["comparator_pairs"]}
    c1 = _match(str(a), comparators, "comparator")
    c2 = _match(str(b), comparators, "comparator")
    key = (c1, c2) if (c1, c2) in pairs else (c2, c1)
    if key not in pairs:
        raise ModelSpecError("a comparison of placebo / control with itself has no prior")
    return pairs[key]


def _log_tau2(
    name: str,
    outcome_type: str | None,
    intervention_comparison: str | tuple[str, str] | None,
    medical_area: str | None = None,
) -> tuple[float, float]:
    """Location and scale of ``log(tau**2)`` from table ``name`` (general setting if no outcome)."""
    table = _table(name)
    if outcome_type is None:
        if intervention_comparison is not None:
            raise ModelSpecError("intervention_comparison needs an outcome_type as well")
        return float(table.meta["general"]["location"]), float(table.meta["general"]["scale"])
    outcome = _match(outcome_type, table.outcomes, "outcome type")
    comparison = _comparison(intervention_comparison, table)
    area = "" if medical_area is None else _match(medical_area, table.areas, "medical area")
    return table.values[area, outcome, comparison]


def turner2015(
    outcome_type: str | None = None,
    intervention_comparison: str | tuple[str, str] | None = None,
) -> LogNormal:
    """Empirical log-normal heterogeneity prior for log odds ratios (Turner et al. 2015).

    Predictive distributions of the between-study *variance* of meta-analyses of binary outcomes
    (log odds ratios) in the Cochrane Database of Systematic Reviews: ``log(tau**2) ~ Normal(m,
    s**2)``, ``(m, s)`` from Table IV by outcome type and type of intervention comparison, or
    ``m = -2.56, s = 1.74`` in the general (marginal) setting (p. 993). Since ``log(tau) =
    log(tau**2) / 2``, this is exactly ``LogNormal(mu=m/2, sigma=s/2)`` on ``tau``, which is
    returned. The table: ``data/turner2015.csv``, its sources in ``data/turner2015.json``.

    Parameters
    ----------
    outcome_type
        ``None`` for the general setting, or one of the 16 outcome types of Table IV (e.g.
        ``"all-cause mortality"``, ``"pain"``; unique prefixes are accepted).
    intervention_comparison
        One of the 5 comparison types (e.g. ``"pharmacological vs. placebo / control"``;
        prefixes accepted), or a pair of comparators from ``("pharmacological",
        "non-pharmacological", "placebo / control")``.

    References
    ----------
    R.M. Turner, D. Jackson, Y. Wei, S.G. Thompson, J.P.T. Higgins (2015). Predictive
    distributions for between-study heterogeneity and simple methods for their application in
    Bayesian meta-analysis. Statistics in Medicine 34(6):984-998, Table IV. doi:10.1002/sim.6381.
    Values as in R bayesmeta's ``TurnerEtAlParameters`` (Röver 2020, J Stat Softw 93(6)).
    See also: R bayesmeta::TurnerEtAlPrior.

    Examples
    --------
    >>> turner2015()
    LogNormal(mu=-1.28, sigma=0.87)
    >>> turner2015("all-cause mortality", ("pharmacological", "placebo / control"))
    LogNormal(mu=-1.975, sigma=0.67)
    """
    m, s = _log_tau2("turner2015", outcome_type, intervention_comparison)
    return LogNormal(mu=m / 2, sigma=s / 2)


def rhodes2015(
    outcome_type: str | None = None,
    intervention_comparison: str | tuple[str, str] | None = None,
    medical_area: str = "other",
) -> LogStudentT:
    """Empirical log-t heterogeneity prior for standardised mean differences (Rhodes et al. 2015).

    Predictive distributions of the between-study variance of meta-analyses of continuous
    outcomes (SMDs) in the Cochrane Database: ``log(tau**2) ~ t_5(location=m, scale=s)``, ``(m,
    s)`` from Table 3 (medical area "other"), Table A.3.1 (respiratory) or Table A.3.2 (cancer),
    or ``m = -3.44, s = 2.59`` in the general setting (beginning of Sec. 3.3). Halving on the log
    scale gives ``LogStudentT(nu=5, mu=m/2, sigma=s/2)`` on ``tau``, which is returned. The
    table: ``data/rhodes2015.csv``, its sources in ``data/rhodes2015.json``.

    Parameters
    ----------
    outcome_type
        ``None`` for the general setting, or one of the 8 outcome types (prefixes accepted),
        e.g. ``"obstetric outcome"``, ``"mental health outcome"``.
    intervention_comparison
        ``"pharmacological vs. placebo / control"``, ``"pharmacological vs. pharmacological"``,
        ``"non-pharmacological (any)"``, or a pair of comparators.
    medical_area
        ``"other"`` (default), ``"respiratory"`` or ``"cancer"`` (prefixes accepted).

    References
    ----------
    K.M. Rhodes, R.M. Turner, J.P.T. Higgins (2015). Predictive distributions were developed
    for the extent of heterogeneity in meta-analyses of continuous outcome data. Journal of
    Clinical Epidemiology 68(1):52-60, Table 3 and Appendix Tables A.3.1, A.3.2.
    doi:10.1016/j.jclinepi.2014.08.012. Values as in R bayesmeta's ``RhodesEtAlParameters``.
    See also: R bayesmeta::RhodesEtAlPrior.

    Examples
    --------
    >>> rhodes2015()
    LogStudentT(nu=5, mu=-1.72, sigma=1.295)
    """
    m, s = _log_tau2("rhodes2015", outcome_type, intervention_comparison, medical_area)
    nu = float(_table("rhodes2015").meta["degrees_of_freedom"])
    return LogStudentT(nu=nu, mu=m / 2, sigma=s / 2)
