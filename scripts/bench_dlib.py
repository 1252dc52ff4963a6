#!/usr/bin/env python3
"""Times dlib's own shape_predictor on the faces benches/ert.rs times, for a side-by-side figure.

Images are decoded with Pillow (as the reference file was made) and converted to arrays before
timing; only the shape predictor call is timed, repeated over all faces several times. Prints one
JSON object: ms_per_face (median over the repeats), best_ms_per_face, faces, repeats.
"""

import argparse
import json
import statistics
import time

import dlib
import numpy as np
from PIL import Image


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--model", default="/usr/share/dlib/shape_predictor_68_face_landmarks.dat")
    ap.add_argument("--data", required=True, help="the shared data folder (holds reference/dlib68.jsonl)")
    ap.add_argument("--faces", type=int, default=100, help="first N AFLW2000-3D rows of the reference")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--loops", type=int, default=5, help="passes over all faces per repeat")
    args = ap.parse_args()

    rows = []
    with open(f"{args.data}/reference/dlib68.jsonl") as f:
        for line in f:
            row = json.loads(line)
            if row["image"].startswith("aflw2000-3d/"):
                rows.append(row)
            if len(rows) == args.faces:
                break
    sp = dlib.shape_predictor(args.model)
    faces = [
        (np.array(Image.open(f"{args.data}/{r['image']}").convert("RGB")), dlib.rectangle(*r["rect"]))
        for r in rows
    ]
    # dlib reads the grey level (r+g+b)/3 of each feature pixel; both image types are timed and
    # the faster reported, so the comparison does not hinge on the colour conversion.
    grey = [(np.ascontiguousarray((img.astype(np.uint16).sum(axis=2) // 3).astype(np.uint8)), rect) for img, rect in faces]

    results = {}
    for name, data in (("rgb", faces), ("grey", grey)):
        for img, rect in data:  # warm-up: page in the model's leaves
            sp(img, rect)
        per_face = []
        for _ in range(args.repeats):
            t = time.perf_counter()
            for _ in range(args.loops):
                for img, rect in data:
                    sp(img, rect)
            per_face.append((time.perf_counter() - t) * 1e3 / (args.loops * len(data)))
        results[name] = per_face
    best_kind = min(results, key=lambda k: statistics.median(results[k]))
    print(json.dumps({
        "ms_per_face": statistics.median(results[best_kind]),
        "best_ms_per_face": min(results[best_kind]),
        "image_kind": best_kind,
        "rgb_ms_per_face": statistics.median(results["rgb"]),
        "grey_ms_per_face": statistics.median(results["grey"]),
        "faces": len(faces),
        "repeats": args.repeats,
        "loops": args.loops,
        "dlib_version": dlib.__version__,
    }))


if __name__ == "__main__":
    main()
