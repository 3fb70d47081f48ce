"""A small writer for tests/test_output_concurrency.py: ``python output_writer.py TARGET ID
ROUNDS SYNC``. Each round waits for ``SYNC/go-<round>``, writes a five-file report through
bayesmeta's output protocol (each file says who wrote it, in which round), and records
``ok`` or the refusal in ``SYNC/done-<round>-<ID>``."""

import sys
import time
from pathlib import Path

from bayesmeta._output import output_folder
from bayesmeta.errors import OutputError

target, me, rounds, sync = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
for r in range(rounds):
    while not (sync / f"go-{r}").exists():
        time.sleep(0.005)
    try:
        with output_folder(target, lock_timeout=10) as tmp:
            for i in range(5):
                (tmp / "sub").mkdir(exist_ok=True)
                (tmp / ("sub" if i % 2 else ".") / f"f{i}.txt").write_text(f"{me} {r}\n" * 200)
                time.sleep(0.002)
        status = "ok"
    except OutputError as err:
        status = f"refused: {err}"
    (sync / f"done-{r}-{me}.tmp").write_text(status)
    (sync / f"done-{r}-{me}.tmp").rename(sync / f"done-{r}-{me}")
