"""Exception and warning classes raised by bayesmeta.

Every error a user can cause derives from :class:`BayesMetaError`, so a script (or the command line,
which maps it to exit code 2) can catch one class. Messages name the offending argument, row and
column, and say what to do.
"""

from __future__ import annotations

__all__ = [
    "BayesMetaError",
    "ConvergenceWarning",
    "DataError",
    "FitError",
    "ModelSpecError",
    "NotEstimableWarning",
    "OutputError",
    "ResultFileError",
    "SmallStudyWarning",
]


class BayesMetaError(Exception):
    """Base class of every error bayesmeta raises on bad input or a failed fit.

    Examples
    --------
    >>> from bayesmeta import rma
    >>> try:
    ...     rma([0.1, 0.2], [0.01, 0.02], method="XX")
    ... except BayesMetaError as err:
    ...     print(type(err).__name__)
    ModelSpecError
    """


class DataError(BayesMetaError, ValueError):
    """Input data are malformed: missing or non-numeric columns, impossible values, duplicates.

    Parameters
    ----------
    message
        What is wrong and what to do about it.
    rows
        Zero-based positions of the offending rows, if any.
    column
        The offending column, if any.
    source
        The file the data came from, if any.

    Examples
    --------
    >>> err = DataError("sd must be > 0", rows=[2], column="sd1")
    >>> err.column
    'sd1'
    """

    def __init__(
        self,
        message: str,
        *,
        rows: list[int] | None = None,
        column: str | None = None,
        source: str | None = None,
    ) -> None:
        self.rows = list(rows) if rows is not None else []
        self.column = column
        self.source = source
        prefix = f"{source}: " if source else ""
        super().__init__(prefix + message)


class ModelSpecError(BayesMetaError, ValueError):
    """A model or estimator was configured wrongly (unknown method, bad prior, bad moderator).

    Examples
    --------
    >>> from bayesmeta.priors import prior_from_spec
    >>> try:
    ...     prior_from_spec("half_normal(-1)")
    ... except ModelSpecError as err:
    ...     print(err)
    HalfNormal: scale must be finite and > 0, got -1
    """


class FitError(BayesMetaError, RuntimeError):
    """A fit failed: the estimator did not converge or the sampler could not start.

    Examples
    --------
    >>> issubclass(FitError, BayesMetaError), issubclass(FitError, RuntimeError)
    (True, True)
    """


class ResultFileError(BayesMetaError, OSError):
    """A saved result cannot be read: truncated, foreign, or from an incompatible version.

    Examples
    --------
    >>> from bayesmeta import Result
    >>> try:
    ...     Result.load("no-such-file.nc")
    ... except ResultFileError as err:
    ...     print(err)
    no-such-file.nc: no such file
    """


class OutputError(BayesMetaError, OSError):
    """An output path cannot be written: refused (it holds files of the user) or a write fault.

    The command line maps ``exit_code`` to its exit status: 2 when the path is refused or unusable
    before any work starts (a regular file, a folder with other files, an edited report, a parent
    that is a file, no permission, a read-only file system, a name too long), 3 when writing could
    not be finished (disk full, file-size limit). Nothing of the user's is deleted either way.

    Parameters
    ----------
    message
        What is wrong and what to do about it (the path is prepended).
    path
        The output path concerned.
    cause
        A short cause in words (e.g. ``"the disk is full"``).
    exit_code
        2 (bad output path) or 3 (could not finish writing).

    Examples
    --------
    >>> err = OutputError("holds files bayesmeta did not write", path="mydir", exit_code=2)
    >>> str(err), err.exit_code
    ('mydir: holds files bayesmeta did not write', 2)
    """

    def __init__(
        self, message: str, *, path: str, cause: str | None = None, exit_code: int = 3
    ) -> None:
        self.path = str(path)
        self.cause = cause
        self.exit_code = exit_code
        super().__init__(f"{path}: {message}")

    def __str__(self) -> str:
        return str(self.args[0])


class ConvergenceWarning(UserWarning):
    """Sampler diagnostics (divergences, R-hat, ESS) or an iterative estimator signal a problem.

    Examples
    --------
    >>> import warnings
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     warnings.warn(ConvergenceWarning("2 divergences: raise target_accept"), stacklevel=1)
    >>> caught[0].category.__name__
    'ConvergenceWarning'
    """


class NotEstimableWarning(UserWarning):
    """A quantity cannot be estimated from the data (e.g. tau2 with a single study).

    Examples
    --------
    >>> import warnings
    >>> from bayesmeta import rma
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     fit = rma([0.3], [0.04], method="REML")
    >>> [w.category.__name__ for w in caught], fit.tau2
    (['NotEstimableWarning'], nan)
    """


class SmallStudyWarning(UserWarning):
    """Fewer studies than the Cochrane Handbook advises for a test of funnel-plot asymmetry.

    The Handbook (section 10.4.3.1) advises against tests for funnel-plot asymmetry with fewer
    than 10 studies; :mod:`bayesmeta.bias` computes them on request and records this warning in
    the result.

    Examples
    --------
    >>> issubclass(SmallStudyWarning, UserWarning)
    True
    """
