"""A job the evaluator may approve but modelco must not: it copies the private model's weights to the output.

Its inputs name modelco/model, so modelco's key opens for it only if modelco approved its digest; it did not, and the
job is refused before any input is decrypted.
"""
import os
import shutil

inputs, out = os.environ["CLEANROOM_INPUTS"], os.environ["CLEANROOM_OUTPUT"]
shutil.copy(os.path.join(inputs, "modelco", "model", "model.json"), os.path.join(out, "stolen-weights.json"))
