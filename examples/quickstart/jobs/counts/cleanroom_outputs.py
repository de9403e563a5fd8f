"""Job-author helper for safe outputs (python3, standard library only).

Writes tables of counts or statistics into $CLEANROOM_OUTPUT together with their declaration in
$CLEANROOM_OUTPUT/outputs.json, which the clean room's output checker reads before anything leaves the TEE
(docs/disclosure.md). Copy this file next to your job's entrypoint and import it.

    import cleanroom_outputs as co
    co.write_table("counts.csv", ["age_band", "n"], [["30-39", 120], ["40-49", 85]], counts=[120, 85])
    co.write_table("means.csv", ["region", "mean_income"], [["north", 51234.5]], counts=[40],
                   contributions=[incomes_of_north])   # every record's value in the cell
    co.declare("fit.json", "regression", residualDf=42)
    co.declare("weights.bin", "model")

The manifest is rewritten atomically (a temporary file renamed over it) after each call, so a job that stops half
way leaves a manifest that matches the files written before.
"""

import csv
import json
import os
import tempfile

MANIFEST = "outputs.json"
KINDS = ("table", "regression", "model", "text", "other")
# More than any room's dominance n is likely to be; the checker needs at least that many (or all of a cell's).
DEFAULT_TOP_N = 10


def output_dir():
    """The job's output directory ($CLEANROOM_OUTPUT)."""
    d = os.environ.get("CLEANROOM_OUTPUT")
    if not d:
        raise RuntimeError("CLEANROOM_OUTPUT is not set: run this inside a clean room job")
    return d


def _check_path(path):
    if not isinstance(path, str) or path == "" or path.startswith("/") or ".." in path.split("/") or path == MANIFEST:
        raise ValueError("output path must be a relative path inside $CLEANROOM_OUTPUT (not outputs.json), with / between folders")


def _load(directory):
    try:
        with open(os.path.join(directory, MANIFEST), "r", encoding="utf-8") as f:
            m = json.load(f)
    except FileNotFoundError:
        return {"version": 1, "outputs": []}
    if not isinstance(m, dict) or m.get("version") != 1 or not isinstance(m.get("outputs"), list):
        raise ValueError("outputs.json exists but is not a version 1 manifest; remove it or write it with this helper only")
    return m


def _save(directory, manifest):
    fd, tmp = tempfile.mkstemp(prefix=".outputs.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, separators=(",", ":"))
        os.replace(tmp, os.path.join(directory, MANIFEST))
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def declare(path, kind, **extra):
    """Declares (or re-declares) one output file: kind is table, regression, model, text or other.

    extra: residualDf=<int> for a regression; cells=[...] (and zeroCellsDisclosive=True) for a table you wrote yourself.
    """
    _check_path(path)
    if kind not in KINDS:
        raise ValueError("kind must be one of " + ", ".join(KINDS))
    if kind == "regression" and not (isinstance(extra.get("residualDf"), int) and extra["residualDf"] >= 0):
        raise ValueError("a regression needs residualDf=<int >= 0> (its residual degrees of freedom)")
    d = output_dir()
    m = _load(d)
    entry = dict(extra)
    entry["path"] = path
    entry["kind"] = kind
    m["outputs"] = [e for e in m["outputs"] if not (isinstance(e, dict) and e.get("path") == path)] + [entry]
    _save(d, m)
    return entry


def _cell(count, values, margin, top_n):
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("each count must be an integer >= 0 (the number of records behind the cell)")
    cell = {"count": count}
    if values is not None:
        if isinstance(values, dict):
            cell["contributions"] = {"top": sorted((abs(float(v)) for v in values["top"]), reverse=True), "total": abs(float(values["total"]))}
        else:
            absolute = sorted((abs(float(v)) for v in values), reverse=True)
            if len(absolute) != count:
                raise ValueError("a cell's contributions must hold one value per record of the cell (as many as its count)")
            if absolute:
                cell["contributions"] = {"top": absolute[:top_n], "total": sum(absolute)}
    if margin is not None:
        cell["margin"] = int(margin)
    return cell


def write_table(path, header, rows, counts, contributions=None, margins=None, zero_cells_disclosive=False, top_n=DEFAULT_TOP_N):
    """Writes a CSV table (a header line, then one line per row) and declares it with one cell per row.

    counts: the number of records behind each row. contributions (for sums and means): per row, either every record's
    value in that cell, or {"top": [largest absolute values], "total": sum of absolute values}; None for a count.
    margins: per row, the count of the row or column group it belongs to (with zero_cells_disclosive=True, when the
    table's margins are published too).
    """
    _check_path(path)
    rows = [list(r) for r in rows]
    if len(counts) != len(rows):
        raise ValueError("counts must have one entry per row")
    if contributions is not None and len(contributions) != len(rows):
        raise ValueError("contributions must have one entry (or None) per row")
    if margins is not None and len(margins) != len(rows):
        raise ValueError("margins must have one entry per row")
    cells = [
        _cell(counts[i], None if contributions is None else contributions[i], None if margins is None else margins[i], top_n)
        for i in range(len(rows))
    ]
    d = output_dir()
    target = os.path.join(d, *path.split("/"))
    os.makedirs(os.path.dirname(target), exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
    extra = {"cells": cells}
    if zero_cells_disclosive:
        extra["zeroCellsDisclosive"] = True
    return declare(path, "table", **extra)
