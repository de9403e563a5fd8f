"""Evaluates modelco's private model on the evaluator's labelled table and writes only aggregate scores.

Inputs (read-only, decrypted inside the TEE): $CLEANROOM_INPUTS/modelco/model/{model.json,config.json} and
$CLEANROOM_INPUTS/evaluator/labelled.csv. Output: $CLEANROOM_OUTPUT/scores.json with the accuracy and, per `sex`,
the positive rate and the true-positive rate, and the gaps between the groups (demographic parity, equal opportunity).
No weight, no row and no per-row prediction leaves the room; a group smaller than MIN_GROUP is reported without scores.
A real evaluation would load the model with torch on the H100 here; this one is a logistic regression, on the CPU.
"""
import csv
import json
import math
import os

MIN_GROUP = 10
GROUP_BY = "sex"

inputs, out = os.environ["CLEANROOM_INPUTS"], os.environ["CLEANROOM_OUTPUT"]
model_dir = os.path.join(inputs, "modelco", "model")
model = json.load(open(os.path.join(model_dir, "model.json")))
config = json.load(open(os.path.join(model_dir, "config.json")))
features, label, positive, threshold = config["features"], config["label"], config["positive"], config["threshold"]


def predict(row):
    z = model["bias"] + sum(model["weights"][f] * (float(row[f]) - model["mean"][f]) / model["std"][f] for f in features)
    return 1 / (1 + math.exp(-z)) >= threshold


def rate(num, den):
    return round(num / den, 6) if den > 0 else None


groups = {}
total = correct = 0
with open(os.path.join(inputs, "evaluator", "labelled.csv"), newline="") as f:
    for row in csv.DictReader(f):
        pred, actual = predict(row), row[label] == positive
        g = groups.setdefault(row[GROUP_BY], {"n": 0, "correct": 0, "predicted": 0, "actual": 0, "truePositive": 0})
        g["n"] += 1
        g["correct"] += pred == actual
        g["predicted"] += pred
        g["actual"] += actual
        g["truePositive"] += pred and actual
        total += 1
        correct += pred == actual

per_group = {}
for name in sorted(groups):
    g = groups[name]
    if g["n"] < MIN_GROUP or g["actual"] < MIN_GROUP:
        per_group[name] = {"suppressed": f"fewer than {MIN_GROUP} rows or positives"}
        continue
    per_group[name] = {
        "n": g["n"],
        "accuracy": rate(g["correct"], g["n"]),
        "positiveRate": rate(g["predicted"], g["n"]),
        "truePositiveRate": rate(g["truePositive"], g["actual"]),
    }
scored = [s for s in per_group.values() if "n" in s]


def gap(key):
    return round(max(s[key] for s in scored) - min(s[key] for s in scored), 6) if len(scored) >= 2 else None


scores = {
    "rows": total,
    "accuracy": rate(correct, total),
    "groupBy": GROUP_BY,
    "groups": per_group,
    "demographicParityGap": gap("positiveRate"),
    "equalOpportunityGap": gap("truePositiveRate"),
}
with open(os.path.join(out, "scores.json"), "w") as f:
    json.dump(scores, f, indent=2, sort_keys=True)
    f.write("\n")
