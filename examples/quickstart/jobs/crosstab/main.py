"""Stage-2 job that FAILS the room's disclosure checks, on purpose (the demo's held output).

- a cross-tabulation of claims by region, smoker and number of children: some cells count fewer than 10 records
  (min-cell-count), so a reader could learn about the few people in them;
- three raw rows of the table "for a quick look" (verbatim-rows): input records must never leave the room.

The room keeps both in quarantine (review mode); a provider reads the checks with `cleanroom job review` and may
release them only by naming each failed rule (`cleanroom job release --accept-failed-checks`).
"""
import csv
import os

import cleanroom_outputs as co

INPUT = os.path.join(os.environ["CLEANROOM_INPUTS"], "insurer", "claims.csv")


def main():
    counts = {}
    with open(INPUT, newline="") as f:
        lines = f.read().splitlines()
    for row in csv.DictReader(lines):
        key = (row["region"], row["smoker"], row["children"])
        counts[key] = counts.get(key, 0) + 1
    keys = sorted(counts)
    co.write_table("claims_by_region_smoker_children.csv", ["region", "smoker", "children", "claims"], [[*k, counts[k]] for k in keys], counts=[counts[k] for k in keys])
    with open(os.path.join(co.output_dir(), "sample.csv"), "w") as f:
        f.write("\n".join(lines[:4]) + "\n")
    co.declare("sample.csv", "text")


if __name__ == "__main__":
    main()
