"""Stage-2 job that passes the room's disclosure checks: claim counts and mean charges by region and smoker.

Every cell aggregates dozens of records (the room's minimum is 10), and no single claim dominates a mean. The table
and its declaration (the records behind each cell, the contributions behind each mean) are written by the helper
cleanroom_outputs.py, copied next to this file (docs/disclosure.md).
"""
import csv
import os

import cleanroom_outputs as co

INPUT = os.path.join(os.environ["CLEANROOM_INPUTS"], "insurer", "claims.csv")


def main():
    groups = {}
    with open(INPUT, newline="") as f:
        for row in csv.DictReader(f):
            groups.setdefault((row["region"], row["smoker"]), []).append(float(row["charges"]))
    keys = sorted(groups)
    rows = [[region, smoker, len(groups[(region, smoker)]), round(sum(groups[(region, smoker)]) / len(groups[(region, smoker)]), 2)] for region, smoker in keys]
    co.write_table(
        "charges_by_region_smoker.csv",
        ["region", "smoker", "claims", "mean_charges"],
        rows,
        counts=[len(groups[k]) for k in keys],
        contributions=[groups[k] for k in keys],
    )


if __name__ == "__main__":
    main()
