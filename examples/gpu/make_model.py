#!/usr/bin/env python3
"""Makes the gpu example's inputs from public data (public/insurance.csv, the quickstart's public table), with the
standard library only, deterministically (the same bytes on every run, no download, no randomness):

  model/            modelco's private model (a `files` dataset): a logistic regression that predicts `smoker`
    model.json        its weights, bias and the feature standardisation
    config.json       the features, the label, the positive class and the decision threshold
  mock-model/       modelco's PUBLIC stand-in for stage 1: the same files and shapes, every weight zero (a mock)
  data/labelled.csv the evaluator's labelled table (a `table` dataset): the rows the model was not trained on

Usage: python3 make_model.py [--source public/insurance.csv] [--out .]
"""
import argparse
import csv
import json
import math
import os

FEATURES = ["age", "bmi", "children", "charges"]
LABEL, POSITIVE = "smoker", "yes"
EPOCHS, RATE, L2 = 400, 0.5, 0.001


def sigmoid(z):
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def train(rows):
    """Full-batch gradient descent on the standardised features (deterministic: no shuffling, no random start)."""
    cols = {f: [float(r[f]) for r in rows] for f in FEATURES}
    mean = {f: sum(v) / len(v) for f, v in cols.items()}
    std = {f: math.sqrt(sum((x - mean[f]) ** 2 for x in v) / len(v)) or 1.0 for f, v in cols.items()}
    xs = [[(float(r[f]) - mean[f]) / std[f] for f in FEATURES] for r in rows]
    ys = [1.0 if r[LABEL] == POSITIVE else 0.0 for r in rows]
    w, b = [0.0] * len(FEATURES), 0.0
    for _ in range(EPOCHS):
        gw, gb = [0.0] * len(FEATURES), 0.0
        for x, y in zip(xs, ys):
            err = sigmoid(b + sum(wi * xi for wi, xi in zip(w, x))) - y
            gw = [g + err * xi for g, xi in zip(gw, x)]
            gb += err
        w = [wi - RATE * (g / len(xs) + L2 * wi) for wi, g in zip(w, gw)]
        b -= RATE * gb / len(xs)
    return {
        "format": "logistic-regression/1",
        "weights": {f: round(wi, 8) for f, wi in zip(FEATURES, w)},
        "bias": round(b, 8),
        "mean": {f: round(mean[f], 8) for f in FEATURES},
        "std": {f: round(std[f], 8) for f in FEATURES},
    }


def write_json(path, value):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(value, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--source", default=os.path.join(here, "public", "insurance.csv"), help="the public table (insurance.csv)")
    p.add_argument("--out", default=".", help="where model/, mock-model/ and data/ are written")
    a = p.parse_args()
    with open(a.source, newline="") as f:
        rows = list(csv.DictReader(f))
    # Even rows train the model, odd rows are the evaluator's: the evaluation is on data the model never saw.
    training, held_out = rows[0::2], rows[1::2]
    model = train(training)
    config = {"task": "binary-classification", "features": FEATURES, "label": LABEL, "positive": POSITIVE, "threshold": 0.5}
    write_json(os.path.join(a.out, "model", "model.json"), model)
    write_json(os.path.join(a.out, "model", "config.json"), config)
    # The stand-in: what stage 1 shows. Same files, same shapes, no information (every weight zero), and it says so.
    mock = dict(model, weights={f: 0.0 for f in FEATURES}, bias=0.0, mean={f: 0.0 for f in FEATURES}, std={f: 1.0 for f in FEATURES})
    write_json(os.path.join(a.out, "mock-model", "model.json"), mock)
    write_json(os.path.join(a.out, "mock-model", "config.json"), dict(config, mock=True))
    os.makedirs(os.path.join(a.out, "data"), exist_ok=True)
    with open(os.path.join(a.out, "data", "labelled.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()), lineterminator="\n")
        w.writeheader()
        w.writerows(held_out)
    print(f"model/ (trained on {len(training)} rows), mock-model/ (stand-in), data/labelled.csv ({len(held_out)} rows)")


if __name__ == "__main__":
    main()
