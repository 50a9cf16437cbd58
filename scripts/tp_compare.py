#!/usr/bin/env python3
"""Compares `ferrum logits --out` files of the same prompt at TP=1 and TP=N (and against the hf-tiny
reference): max |logit difference| and whether the greedy continuations are identical.

Usage: tp_compare.py TOLERANCE NAME TP1.safetensors TPN.safetensors [REFERENCE.safetensors]
Prints one line per comparison and exits 1 when a limit is broken.
"""
import sys

import numpy as np
from safetensors.numpy import load_file


def main():
    tolerance = float(sys.argv[1])
    name = sys.argv[2]
    one = load_file(sys.argv[3])
    many = load_file(sys.argv[4])
    failed = False
    diff = float(np.max(np.abs(one["logits"] - many["logits"])))
    scale = float(np.max(np.abs(one["logits"])))
    print(f"{name:12s} TP=N vs TP=1: max |dlogit| {diff:.4g} (logits up to {scale:.3g}), tolerance {tolerance}")
    failed |= not diff <= tolerance
    if "greedy_ids" in one:
        same = np.array_equal(one["greedy_ids"], many["greedy_ids"])
        print(f"{name:12s} greedy identical: {same}  TP=1 {one['greedy_ids'].tolist()}")
        if not same:
            print(f"{name:12s}                    TP=N {many['greedy_ids'].tolist()}")
        failed |= not same
    if len(sys.argv) > 5:
        reference = load_file(sys.argv[5])["logits"]
        for label, run in (("TP=1", one), ("TP=N", many)):
            ref_diff = float(np.max(np.abs(run["logits"] - reference)))
            print(f"{name:12s} {label} vs transformers f32: max |dlogit| {ref_diff:.4g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
