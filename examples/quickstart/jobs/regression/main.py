"""Stage-2 job: ordinary least squares of `charges` on every other column, pure standard library.

Reads $CLEANROOM_INPUTS/insurer/claims.csv, writes $CLEANROOM_OUTPUT/model.json with the coefficients and R².
Categorical columns are one-hot encoded against a fixed (public) reference level. It declares model.json to the room's
disclosure checks in $CLEANROOM_OUTPUT/outputs.json: a regression, with its residual degrees of freedom (the room's
minimum is 10), so it passes and flows to the data scientist without a manual release (docs/disclosure.md).
"""
import csv
import json
import os

INPUT = os.path.join(os.environ["CLEANROOM_INPUTS"], "insurer", "claims.csv")
OUTPUT = os.path.join(os.environ["CLEANROOM_OUTPUT"], "model.json")

NUMERIC = ["age", "bmi", "children"]
CATEGORICAL = {"sex": ["male"], "smoker": ["yes"], "region": ["northwest", "southeast", "southwest"]}


def features(row):
    x = [1.0] + [float(row[c]) for c in NUMERIC]
    for col, levels in CATEGORICAL.items():
        x += [1.0 if row[col] == level else 0.0 for level in levels]
    return x


def names():
    out = ["intercept"] + NUMERIC
    for col, levels in CATEGORICAL.items():
        out += [f"{col}={level}" for level in levels]
    return out


def solve(a, b):
    """Gauss-Jordan elimination with partial pivoting on the normal equations."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[pivot] = m[pivot], m[col]
        p = m[col][col]
        m[col] = [v / p for v in m[col]]
        for r in range(n):
            if r != col and m[r][col] != 0.0:
                f = m[r][col]
                m[r] = [vr - f * vc for vr, vc in zip(m[r], m[col])]
    return [m[i][n] for i in range(n)]


def main():
    k = len(names())
    xtx = [[0.0] * k for _ in range(k)]
    xty = [0.0] * k
    ys = []
    rows = []
    with open(INPUT, newline="") as f:
        for row in csv.DictReader(f):
            x = features(row)
            y = float(row["charges"])
            rows.append((x, y))
            ys.append(y)
            for i in range(k):
                xty[i] += x[i] * y
                for j in range(k):
                    xtx[i][j] += x[i] * x[j]
    beta = solve(xtx, xty)
    mean = sum(ys) / len(ys)
    ss_tot = sum((y - mean) ** 2 for y in ys)
    ss_res = sum((y - sum(b * v for b, v in zip(beta, x))) ** 2 for x, y in rows)
    result = {
        "model": "ordinary least squares: charges ~ " + " + ".join(names()[1:]),
        "n": len(rows),
        "coefficients": {name: round(b, 4) for name, b in zip(names(), beta)},
        "r2": round(1 - ss_res / ss_tot, 6),
    }
    with open(OUTPUT, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    with open(os.path.join(os.environ["CLEANROOM_OUTPUT"], "outputs.json"), "w") as f:
        json.dump({"version": 1, "outputs": [{"path": "model.json", "kind": "regression", "residualDf": len(rows) - k}]}, f)


if __name__ == "__main__":
    main()
