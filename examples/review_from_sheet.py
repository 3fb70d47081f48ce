"""A whole review from an extraction sheet: read, analyse, report.

The sheet here is the bundled SIMULATED peer-support review written to a CSV, standing in for a
researcher's own extraction sheet (docs/extraction-sheet.md documents the columns;
``bayesmeta.sheet.write_template`` writes an empty one). The same run from the command line is
``bayesmeta reproduce --data sheet.csv --out report/``.

Run: python examples/review_from_sheet.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from bayesmeta import datasets
from bayesmeta.plan import load_plan
from bayesmeta.report import side_by_side, write_report
from bayesmeta.review import analyse_review, published_table, read_review

DRAWS = int(os.environ.get("BAYESMETA_EXAMPLE_DRAWS", "1000"))

work = Path(tempfile.mkdtemp(prefix="bayesmeta-example-"))
sheet = work / "sheet.csv"
datasets.load_peer_support_simulated().to_csv(sheet, index=False)  # your sheet goes here

plan = load_plan("peer_support")  # or your own plan.toml (docs/guide/plans.md)
table, label, _ = read_review(plan, str(sheet))  # validates every row; errors name line, column
analysis = analyse_review(
    table,
    plan=plan,
    data_label=f"{label} (SIMULATED data)",
    simulated=True,
    published=published_table(plan),
    draws=DRAWS,
    seed=1,
)
print(side_by_side(analysis).to_string(index=False))
print(analysis.regression_table().round(2).to_string(index=False))
out = write_report(analysis, work / "report")
print(f"report: {out / 'index.html'}")
