"""A flow function with no Prefect in it: pushpool runs it as it is."""

import json
import os
from pathlib import Path


def sum_rows(day: str, rows: list[int]) -> int:
    total = sum(rows)
    print(f"{day}: {len(rows)} rows, total {total} ({os.environ.get('ETL_MODE')})")
    out = os.environ.get("ETL_OUT")
    if out:
        Path(out).write_text(json.dumps({"day": day, "total": total, "cwd": os.getcwd()}))
    return total
