r"""The review plan as data: outcomes, subgroup variable, moderators and published table.

A :class:`ReviewPlan` says what ``bayesmeta reproduce`` runs on an extraction sheet: the
review's title, its outcomes (label, effect measure, which direction favours the
intervention), the subgroup variable of RevMan's subgroup analysis, the trial-level moderators
the sheet holds (0/1 or numeric columns, and moderators derived from them), which moderator sets
are meta-regressed, the default data and the published table to compare with. It is read from a
TOML or JSON file by :func:`load_plan` and checked at once: every error names the file, the key
and what to do. The bundled plan of the peer-support review is ``load_plan("peer_support")``;
``docs/guide/plans.md`` is the guide.

A plan file (TOML; JSON has the same structure)::

    title = "BCG vaccine against tuberculosis"
    intervention = "BCG vaccine"

    [data]
    sheet = "sheet.csv"                 # relative to the plan file, or a bundled dataset name
    label = "BCG trials (Colditz et al. 1994)"

    [outcomes.tuberculosis]
    label = "Tuberculosis"
    measure = "RR"
    direction = "lower"                 # lower values favour the intervention

    [subgroup]
    column = "alloc"
    name = "allocation"
    levels = ["random", "alternate", "systematic"]

    [moderators]
    ablat = "numeric"                   # a numeric sheet column

    [[regressions]]
    moderators = ["ablat"]

A derived moderator is 1 when at least ``at_least`` of the 0/1 moderators ``of`` are 1 (all of
them: ``at_least`` = their number; any: 1)::

    [moderators.org_support_higher]
    at_least = 2
    of = ["org_support_1", "org_support_2", "org_support_3"]
    values = ["lower", "higher"]        # what 0 and 1 mean

A category column gives a 0/1 moderator with ``column``, its ``levels`` and the level coded 1
(``equals``). The subgroup variable may be coded by a 0/1 moderator (``moderator``): then the
sheet's subgroup column is derived from it where blank and must agree with it where given.

Examples
--------
>>> plan = load_plan("peer_support")
>>> plan.label("social_network_support"), plan.subgroup.name
('Social network support', 'organisational support')
>>> plan.moderator("org_support_higher").at_least
2
>>> [list(r.moderators) for r in plan.regressions][0]
['org_support_higher']
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bayesmeta.effect_sizes import CONVENTIONS
from bayesmeta.errors import DataError

__all__ = [
    "MEASURES_BY_TYPE",
    "MODERATOR_TYPES",
    "OUTCOME_TYPES",
    "DataSource",
    "Moderator",
    "Outcome",
    "Regression",
    "ReviewPlan",
    "Subgroup",
    "bundled_plans",
    "load_plan",
    "plan_from_dict",
]

#: Kinds of sheet row: arm-level continuous or dichotomous data, or a ready estimate.
OUTCOME_TYPES: tuple[str, ...] = ("continuous", "dichotomous", "generic")

#: The measures each ``outcome_type`` accepts. Generic rows hold a ready estimate on the
#: measure's analysis scale (log scale for ``OR``, ``RR``, ``HR``, ``IRR``); ``GEN`` is any
#: other effect measure.
MEASURES_BY_TYPE: dict[str, tuple[str, ...]] = {
    "continuous": ("SMD", "MD"),
    "dichotomous": ("OR", "RR", "RD"),
    "generic": ("SMD", "MD", "OR", "RR", "RD", "HR", "IRR", "GEN"),
}

#: Which values of an outcome favour the intervention (as :data:`bayesmeta.table.DIRECTIONS`).
_DIRECTIONS = ("higher", "lower")
#: Kinds of moderator a plan declares directly from a sheet column.
MODERATOR_TYPES = ("binary", "numeric")
_PLANS = Path(__file__).parent / "datasets" / "plans"
_DATASETS = Path(__file__).parent / "datasets"


@dataclass(frozen=True)
class Outcome:
    """One outcome of the review: its sheet key, display label, measure and direction.

    Examples
    --------
    >>> load_plan("peer_support").outcome("hospitalised")
    Outcome(name='hospitalised', label='Hospitalised', measure='OR', direction='lower', \
outcome_type=None)
    """

    name: str
    label: str
    measure: str
    direction: str
    outcome_type: str | None = None


@dataclass(frozen=True)
class Moderator:
    """A trial-level moderator: a 0/1 or numeric sheet column, or a 0/1 moderator derived.

    ``kind`` is ``"binary"`` or ``"numeric"`` (the sheet column ``name``), ``"at_least"`` (1
    when at least ``at_least`` of the 0/1 moderators ``of`` are 1) or ``"level"`` (1 when the
    category column ``column``, with levels ``levels``, equals ``equals``). ``values`` name 0
    and 1 of a 0/1 moderator (e.g. ``("lower", "higher")``).

    Examples
    --------
    >>> m = load_plan("peer_support").moderator("org_support_higher")
    >>> m.kind, m.at_least, m.of, m.values
    ('at_least', 2, ('org_support_1', 'org_support_2', 'org_support_3'), ('lower', 'higher'))
    """

    name: str
    kind: str
    label: str
    values: tuple[str, str] = ("0", "1")
    of: tuple[str, ...] = ()
    at_least: int = 0
    column: str | None = None
    levels: tuple[str, ...] = ()
    equals: str | None = None

    @property
    def binary(self) -> bool:
        """True for a 0/1 moderator (everything but ``numeric``)."""
        return self.kind != "numeric"


@dataclass(frozen=True)
class Subgroup:
    """The subgroup variable: a category column of the sheet, its levels in display order.

    ``moderator`` names a 0/1 moderator that codes it (its ``values`` are the levels).

    Examples
    --------
    >>> sg = load_plan("peer_support").subgroup
    >>> sg.column, sg.levels, sg.moderator
    ('org_support_level', ('higher', 'lower'), 'org_support_higher')
    """

    column: str
    name: str
    levels: tuple[str, ...]
    labels: tuple[str, ...]
    moderator: str | None = None

    def label(self, level: str) -> str:
        """Return the display name of ``level``.

        Examples
        --------
        >>> load_plan("peer_support").subgroup.label("higher")
        'Higher organisational support'
        """
        return dict(zip(self.levels, self.labels, strict=True)).get(level, level)


@dataclass(frozen=True)
class Regression:
    """A moderator set to meta-regress, fitted for outcomes with at least ``min_k`` trials.

    Examples
    --------
    >>> load_plan("peer_support").regressions[1]
    Regression(moderators=('org_support_1', 'org_support_2', 'org_support_3'), min_k=6)
    """

    moderators: tuple[str, ...]
    min_k: int


@dataclass(frozen=True)
class DataSource:
    """A table named by a plan: a bundled dataset (``path`` None) or a CSV file.

    Examples
    --------
    >>> pub = load_plan("peer_support").published
    >>> pub.name, pub.bundled, pub.label
    ('white2020_published', True, 'White et al. 2020')
    """

    name: str
    path: Path | None
    label: str = ""
    simulated: bool = False

    @property
    def bundled(self) -> bool:
        """True for a dataset shipped with the package."""
        return self.path is None


@dataclass(frozen=True)
class ReviewPlan:
    """A review's analysis plan, checked; read it with :func:`load_plan`.

    Attributes
    ----------
    title
        The report's title.
    intervention, comparator, intervention_short
        Names used in "Favours ..." labels and the "P(favours ...)" column.
    outcomes
        The review's outcomes, in report order.
    subgroup
        The subgroup variable (None: no subgroup analysis).
    moderators
        Trial-level moderators, registered on the table in this order.
    regressions
        Moderator sets to meta-regress.
    data
        The default extraction sheet (None: ``--data`` must be given).
    published
        The published table to compare with (None: no comparison).
    convention
        Effect-size convention of the sheet reader (``"metafor"`` or ``"revman"``).
    source
        The file the plan was read from.

    Examples
    --------
    >>> plan = plan_from_dict({"title": "T", "outcomes": {"pain": {"measure": "SMD",
    ...                        "direction": "lower"}}})
    >>> plan.outcomes[0].label, plan.intervention
    ('pain', 'intervention')
    """

    title: str
    outcomes: tuple[Outcome, ...]
    intervention: str = "intervention"
    comparator: str = "control"
    intervention_short: str = "intervention"
    subgroup: Subgroup | None = None
    moderators: tuple[Moderator, ...] = ()
    regressions: tuple[Regression, ...] = ()
    data: DataSource | None = None
    published: DataSource | None = None
    convention: str = "metafor"
    source: str = "<plan>"

    def outcome(self, name: str) -> Outcome | None:
        """Return the declared outcome ``name``, or None.

        Examples
        --------
        >>> load_plan("peer_support").outcome("housing") is None
        True
        """
        return next((o for o in self.outcomes if o.name == name), None)

    def label(self, outcome: str) -> str:
        """Return the display label of ``outcome`` (its key when undeclared).

        Examples
        --------
        >>> plan = load_plan("peer_support")
        >>> plan.label("working_alliance_client"), plan.label("housing")
        ('Working alliance (client-rated)', 'housing')
        """
        o = self.outcome(outcome)
        return o.label if o is not None else outcome

    def moderator(self, name: str) -> Moderator:
        """Return the declared moderator ``name`` (KeyError when undeclared).

        Examples
        --------
        >>> load_plan("peer_support").moderator("peer_add_on").equals
        'add-on'
        """
        for m in self.moderators:
            if m.name == name:
                return m
        raise KeyError(name)

    def sheet_columns(self) -> list[str]:
        """Return the sheet columns the plan reads beyond the standard ones, in template order.

        The 0/1 and numeric moderator columns, the subgroup column, then the category
        columns of ``level`` moderators.

        Examples
        --------
        >>> load_plan("peer_support").sheet_columns()
        ['org_support_1', 'org_support_2', 'org_support_3', 'org_support_level', 'peer_role']
        """
        cols = [m.name for m in self.moderators if m.kind in MODERATOR_TYPES]
        if self.subgroup is not None:
            cols.append(self.subgroup.column)
        cols += [str(m.column) for m in self.moderators if m.kind == "level"]
        return list(dict.fromkeys(cols))


# ---------------------------------------------------------------------------- reading


def bundled_plans() -> list[str]:
    """Return the names of the plans shipped with the package.

    Examples
    --------
    >>> "peer_support" in bundled_plans()
    True
    """
    return sorted(p.stem for p in _PLANS.glob("*.toml"))


def load_plan(path_or_name: str | Path) -> ReviewPlan:
    """Read and check a review plan from a TOML or JSON file, or a bundled plan by name.

    Parameters
    ----------
    path_or_name
        A ``.toml`` or ``.json`` file, or the name of a bundled plan (:func:`bundled_plans`).
        Relative paths inside the plan (``[data] sheet``, ``[published] table``) are read
        relative to the plan file.

    Returns
    -------
    ReviewPlan

    Raises
    ------
    DataError
        Naming the file and the key: the file is missing or not valid TOML/JSON; an unknown
        key (the allowed keys are listed); a missing required key; an unknown measure,
        direction or outcome_type; a moderator, regression or subgroup naming an undeclared
        moderator; a derived moderator that is not well formed; a data or published table
        that is neither a bundled dataset nor an existing file.

    Examples
    --------
    >>> plan = load_plan("peer_support")
    >>> plan.title
    'Bayesian re-analysis: one-to-one peer support in mental health services'
    >>> plan.data.name, plan.data.simulated, plan.published.name
    ('peer_support_simulated', True, 'white2020_published')
    """
    text = str(path_or_name)
    if isinstance(path_or_name, str) and text in bundled_plans():
        path = _PLANS / f"{text}.toml"
    else:
        path = Path(path_or_name)
    if not path.is_file():
        raise DataError(
            f"review plan {text!r} is neither a file nor a bundled plan "
            f"({', '.join(bundled_plans())}); give the path of a .toml or .json plan",
            source=text,
        )
    raw = path.read_bytes()
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(raw.decode("utf-8"))
        else:
            data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as err:
        kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
        raise DataError(
            f"not a valid {kind} plan: {err}; see docs/guide/plans.md", source=str(path)
        ) from None
    if not isinstance(data, dict):
        raise DataError("a plan is a table of keys (title, outcomes, ...)", source=str(path))
    return plan_from_dict(data, source=str(path), root=path.parent)


def plan_from_dict(
    data: Mapping[str, Any], *, source: str = "<plan>", root: Path | None = None
) -> ReviewPlan:
    """Check a plan given as a dict (the parsed TOML/JSON) and return the :class:`ReviewPlan`.

    ``source`` names the plan in error messages; ``root`` is the folder relative paths are read
    from (default: the working directory).

    Examples
    --------
    >>> plan_from_dict({"title": "T", "outcomes": {}, "colour": "red"})
    Traceback (most recent call last):
    ...
    bayesmeta.errors.DataError: <plan>: unknown key 'colour' at the top level; allowed keys: \
title, intervention, comparator, intervention_short, convention, data, published, outcomes, \
subgroup, moderators, regressions
    """
    r = _Reader(source, root if root is not None else Path.cwd())
    top = r.table(data, "", _TOP, required=("title", "outcomes"))
    outcomes = tuple(
        r.outcome(name, spec) for name, spec in r.table(top["outcomes"], "outcomes").items()
    )
    if not outcomes:
        r.fail("outcomes", "declares no outcome", "add an [outcomes.<key>] table per outcome")
    moderators = r.moderators(top.get("moderators", {}))
    subgroup = r.subgroup(top["subgroup"], moderators) if "subgroup" in top else None
    if subgroup is not None and subgroup.column in {m.name for m in moderators}:
        r.fail(
            "subgroup.column",
            f"{subgroup.column!r} is also a moderator's name",
            "the subgroup column holds levels (text): name the moderator differently",
        )
    convention = r.choice(top.get("convention", "metafor"), "convention", CONVENTIONS)
    intervention = r.text(top.get("intervention", "intervention"), "intervention")
    return ReviewPlan(
        title=r.text(top["title"], "title"),
        outcomes=outcomes,
        intervention=intervention,
        comparator=r.text(top.get("comparator", "control"), "comparator"),
        intervention_short=r.text(
            top.get("intervention_short", intervention), "intervention_short"
        ),
        subgroup=subgroup,
        moderators=moderators,
        regressions=r.regressions(top.get("regressions", []), moderators),
        data=r.source_table(top["data"], "data", "sheet", _DATA) if "data" in top else None,
        published=(
            r.source_table(top["published"], "published", "table", _PUBLISHED)
            if "published" in top
            else None
        ),
        convention=convention,
        source=source,
    )


_TOP = (
    "title",
    "intervention",
    "comparator",
    "intervention_short",
    "convention",
    "data",
    "published",
    "outcomes",
    "subgroup",
    "moderators",
    "regressions",
)
_OUTCOME = ("label", "measure", "direction", "outcome_type")
_SUBGROUP = ("column", "name", "levels", "labels", "moderator")
_MODERATOR = ("type", "label", "values", "at_least", "of", "column", "levels", "equals")
_REGRESSION = ("moderators", "min_k")
_DATA = ("sheet", "label", "simulated")
_PUBLISHED = ("table", "label")


class _Reader:
    """Checks a parsed plan key by key; every error names the file and the key."""

    def __init__(self, source: str, root: Path) -> None:
        self.source = source
        self.root = root

    def fail(self, key: str, problem: str, todo: str) -> None:
        where = f"key {key!r}" if key else "the top level"
        raise DataError(f"{where} {problem}; {todo}", column=key or None, source=self.source)

    def table(
        self,
        value: Any,
        key: str,
        allowed: tuple[str, ...] | None = None,
        required: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self.fail(key, f"must be a table, got {value!r}", "see docs/guide/plans.md")
        out = dict(value)
        unknown = [k for k in out if allowed is not None and k not in allowed]
        if unknown:
            where = f"in [{key}]" if key else "at the top level"
            raise DataError(
                f"unknown key {unknown[0]!r} {where}; allowed keys: {', '.join(allowed or ())}",
                column=unknown[0],
                source=self.source,
            )
        for k in required:
            if k not in out:
                self.fail(_join(key, k), "is missing", f"add {k} = ... to [{key or 'top'}]")
        return out

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, got {value!r}", "write it in quotes")
        return str(value).strip()

    def texts(self, value: Any, key: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            self.fail(
                key, f"must be a non-empty list of strings, got {value!r}", 'write e.g. ["a", "b"]'
            )
        out = tuple(self.text(v, key) for v in value)
        if len(set(out)) < len(out):
            self.fail(key, f"repeats a name in {list(out)}", "list each name once")
        return out

    def choice(self, value: Any, key: str, allowed: tuple[str, ...]) -> str:
        if value not in allowed:
            self.fail(key, f"has unknown value {value!r}", f"use one of {', '.join(allowed)}")
        return str(value)

    def outcome(self, name: str, spec: Any) -> Outcome:
        key = f"outcomes.{name}"
        d = self.table(spec, key, _OUTCOME, required=("measure", "direction"))
        measure = self.choice(
            str(d["measure"]).upper(), f"{key}.measure", MEASURES_BY_TYPE["generic"]
        )
        otype = d.get("outcome_type")
        if otype is not None:
            otype = self.choice(otype, f"{key}.outcome_type", OUTCOME_TYPES)
            if measure not in MEASURES_BY_TYPE[otype]:
                self.fail(
                    f"{key}.measure",
                    f"{measure!r} does not fit outcome_type {otype!r}",
                    f"a {otype} outcome takes {', '.join(MEASURES_BY_TYPE[otype])}",
                )
        return Outcome(
            name=name,
            label=self.text(d.get("label", name), f"{key}.label"),
            measure=measure,
            direction=self.choice(d["direction"], f"{key}.direction", _DIRECTIONS),
            outcome_type=otype,
        )

    def moderators(self, spec: Any) -> tuple[Moderator, ...]:
        out = []
        for name, value in self.table(spec, "moderators").items():
            d = {"type": value} if isinstance(value, str) else value
            out.append(self.moderator(name, d))
        names = {m.name for m in out}
        for m in out:
            for source in m.of:
                if source not in names:
                    self.fail(
                        f"moderators.{m.name}.of",
                        f"names {source!r}, not a declared moderator",
                        f'declare [moderators.{source}] (type = "binary")',
                    )
                kind = next(x for x in out if x.name == source).kind
                if kind in ("numeric", "at_least"):
                    what = "a numeric" if kind == "numeric" else "another derived"
                    self.fail(
                        f"moderators.{m.name}.of",
                        f"names {source!r}, {what} moderator",
                        'count 0/1 sheet columns (type = "binary") or category levels only',
                    )
        columns = [m.column for m in out if m.kind == "level"]
        for m in out:
            if m.name in columns:
                self.fail(
                    f"moderators.{m.name}",
                    f"has the name of the category column {m.name!r} another moderator reads",
                    "give the moderator its own name (e.g. the level it codes)",
                )
        return tuple(out)

    def moderator(self, name: str, spec: Any) -> Moderator:
        key = f"moderators.{name}"
        d = self.table(spec, key, _MODERATOR)
        label = self.text(d.get("label", name), f"{key}.label")
        values = tuple(self.texts(d.get("values", ["0", "1"]), f"{key}.values"))
        if len(values) != 2:
            self.fail(f"{key}.values", "must name 0 and 1", 'write e.g. ["lower", "higher"]')
        derived = [k for k in ("at_least", "of", "column", "levels", "equals") if k in d]
        if "type" in d:
            if derived:
                self.fail(
                    f"{key}.{derived[0]}",
                    "does not go with type",
                    "declare a sheet column (type) or a derived moderator, not both",
                )
            kind = self.choice(d["type"], f"{key}.type", MODERATOR_TYPES)
            return Moderator(name, kind, label, (values[0], values[1]))
        if "of" in d or "at_least" in d:
            of = self.texts(d.get("of"), f"{key}.of")
            n = d.get("at_least")
            if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= len(of):
                self.fail(
                    f"{key}.at_least",
                    f"must be a whole number from 1 to {len(of)}, got {n!r}",
                    "say how many of the listed moderators must be 1",
                )
            count = int(n)  # type: ignore[arg-type]
            return Moderator(name, "at_least", label, (values[0], values[1]), of=of, at_least=count)
        if "column" in d:
            levels = self.texts(d.get("levels"), f"{key}.levels")
            equals = self.text(d.get("equals"), f"{key}.equals")
            if equals not in levels:
                self.fail(
                    f"{key}.equals",
                    f"{equals!r} is not one of levels {list(levels)}",
                    "name the level coded 1",
                )
            return Moderator(
                name,
                "level",
                label,
                (values[0], values[1]),
                column=self.text(d["column"], f"{key}.column"),
                levels=levels,
                equals=equals,
            )
        self.fail(
            key,
            "declares neither a type nor a derivation",
            'give type = "binary" or "numeric", at_least + of, or column + levels + equals',
        )
        raise AssertionError  # pragma: no cover - fail raises

    def subgroup(self, spec: Any, moderators: tuple[Moderator, ...]) -> Subgroup:
        d = self.table(spec, "subgroup", _SUBGROUP, required=("column", "levels"))
        column = self.text(d["column"], "subgroup.column")
        levels = self.texts(d["levels"], "subgroup.levels")
        raw = self.table(d.get("labels", {}), "subgroup.labels", levels)
        labels = tuple(self.text(raw.get(lv, lv), f"subgroup.labels.{lv}") for lv in levels)
        mod = d.get("moderator")
        if mod is not None:
            m = next((x for x in moderators if x.name == mod), None)
            if m is None or not m.binary:
                self.fail(
                    "subgroup.moderator",
                    f"names {mod!r}, not a declared 0/1 moderator",
                    "declare it under [moderators] or remove the key",
                )
            elif set(m.values) != set(levels):
                self.fail(
                    "subgroup.levels",
                    f"{list(levels)} differ from moderator {mod!r}'s values {list(m.values)}",
                    "make the two lists name the same levels",
                )
        return Subgroup(
            column, self.text(d.get("name", column), "subgroup.name"), levels, labels, mod
        )

    def regressions(self, spec: Any, moderators: tuple[Moderator, ...]) -> tuple[Regression, ...]:
        if not isinstance(spec, list):
            self.fail("regressions", "must be a list of tables", "write [[regressions]] blocks")
        names = {m.name for m in moderators}
        out = []
        for i, item in enumerate(spec, 1):
            key = f"regressions[{i}]"
            d = self.table(item, key, _REGRESSION, required=("moderators",))
            mods = self.texts(d["moderators"], f"{key}.moderators")
            for m in mods:
                if m not in names:
                    self.fail(
                        f"{key}.moderators",
                        f"names {m!r}, not a declared moderator",
                        f"declare [moderators.{m}] or remove it from the set",
                    )
            min_k = d.get("min_k", len(mods) + 2)  # intercept, slopes and tau
            if not isinstance(min_k, int) or isinstance(min_k, bool) or min_k < len(mods) + 2:
                self.fail(
                    f"{key}.min_k",
                    f"must be a whole number >= {len(mods) + 2} (the "
                    f"intercept, {len(mods)} slope(s) and tau), got {min_k!r}",
                    "raise it or leave it out",
                )
            out.append(Regression(mods, min_k))
        return tuple(out)

    def source_table(self, spec: Any, key: str, field: str, allowed: tuple[str, ...]) -> DataSource:
        d = self.table(spec, key, allowed, required=(field,))
        name = self.text(d[field], f"{key}.{field}")
        simulated = d.get("simulated", False)
        if not isinstance(simulated, bool):
            self.fail(
                f"{key}.simulated",
                f"must be true or false, got {simulated!r}",
                "write simulated = true for simulated data",
            )
        label = self.text(d.get("label", name), f"{key}.label")
        if (_DATASETS / f"{name}.csv").is_file() and "/" not in name and "\\" not in name:
            return DataSource(name, None, label, simulated)
        path = (self.root / name).resolve()
        if not path.is_file():
            self.fail(
                f"{key}.{field}",
                f"{name!r} is neither a bundled dataset nor a file (looked for {path})",
                "give a CSV path relative to the plan file",
            )
        return DataSource(name, path, label, simulated)


def _join(key: str, sub: str) -> str:
    return f"{key}.{sub}" if key else sub
