#!/usr/bin/env python3
"""How still a track holds a still face on the shared clips (Python 3 stdlib).

usage: still_stretches.py [--video DIR] [--window N] [--tol PCT] [--angle DEG] [--from FRAME]
                          [--windows] TRACK_DIR [TRACK_DIR ...]

The demo's still segments are rendered from the project's own model; real footage has no such
segments to order. This finds them in the shared clips from the reference (3DDFA_V2) alone, so every
track is measured over the same frames: windows of N frames (default 30, a second) in which the
reference, smoothed by a 5-frame median against its own frame-to-frame noise, keeps its 68 points
within PCT % of the face box of their mean over the window (default 1.5) and each angle within a
range of DEG degrees (default 2). Windows do not overlap, and start at FRAME or later (default 45:
after the identity lock's first second and the frames it settles in).

Each TRACK_DIR holds one `facetrack track --csv` file a clip, named after it (d14.csv, ...). Within
each window where the track fitted every frame, it measures the spread of the track about its own
mean: the angles (standard deviation, RMS over pitch, yaw and roll, degrees), the landmarks (RMS
over the 68 points' x and y, % of the reference's box) and the expression (the `exp_` coefficients'
standard deviation, mean over them, σ). It prints the mean over the windows, one line a directory.

The tolerance is on the 68 points' mean move, so a window may hold a face that talks with its head
still; the expression's spread there is the mouth's motion as much as the fit's noise. So each
line also gives the expression's steps: the median over the window's frames of the RMS, over the
coefficients, of their second difference (σ), which a slow movement hardly enters and noise does.
`--windows` lists each window with the reference's inner-lip opening (points 63 and 67) spread, %
of the box, and each track's expression spread and steps there.
"""

import argparse
import csv
import json
import math
import os
import statistics as st
import sys

ANGLES = ("pitch_deg", "yaw_deg", "roll_deg")


def default_video_dir():
    shared = os.environ.get("FACETRACK_SHARED") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared"
    )
    return os.path.join(shared, "data", "video")


def load_reference(clip_dir):
    ref = {}
    with open(os.path.join(clip_dir, "ref_3ddfa.jsonl")) as f:
        for line in f:
            d = json.loads(line)
            if d.get("found"):
                ref[d["frame"]] = d
    return ref


def smoothed(ref, frame):
    """The reference at `frame`, each coordinate and angle the median over 5 frames."""
    near = [ref[g] for g in range(frame - 2, frame + 3) if g in ref]
    points = [
        [st.median(q["landmarks_2d"][k][c] for q in near) for c in (0, 1)] for k in range(68)
    ]
    angles = [st.median(q["pose_deg"][a] for q in near) for a in ("yaw", "pitch", "roll")]
    return points, angles


def still_windows(ref, frames, window, tol, angle, first):
    """(frames, box) of each still window, in order, none overlapping."""
    found = []
    i = first
    while i + window <= frames:
        span = range(i, i + window)
        if not all(f in ref for f in span):
            i += 1
            continue
        views = [smoothed(ref, f) for f in span]
        xs = [p[0] for p in views[0][0]]
        ys = [p[1] for p in views[0][0]]
        box = math.sqrt((max(xs) - min(xs)) * (max(ys) - min(ys)))
        mean = [[st.mean(v[0][k][c] for v in views) for c in (0, 1)] for k in range(68)]
        moved = max(
            st.mean(math.hypot(v[0][k][0] - mean[k][0], v[0][k][1] - mean[k][1]) for k in range(68))
            for v in views
        )
        turned = max(max(v[1][a] for v in views) - min(v[1][a] for v in views) for a in range(3))
        if box > 0 and 100 * moved / box < tol and turned < angle:
            found.append((list(span), box))
            i += window
        else:
            i += 1
    return found


def spread(rows, box):
    """Angles (deg), landmarks (% of box) and expression (σ) about the window's mean, and the
    expression's steps (σ)."""
    xs = [k for k in rows[0] if k.startswith("x_")]
    ys = [k for k in rows[0] if k.startswith("y_")]
    exp = [k for k in rows[0] if k.startswith("exp_")]
    col = lambda k: [float(r[k]) for r in rows]
    angles = math.sqrt(st.mean(st.pvariance(col(k)) for k in ANGLES))
    points = 100 * math.sqrt(sum(st.pvariance(col(k)) for k in xs + ys) / max(len(xs), 1)) / box
    e = [col(k) for k in exp]
    expression = st.mean(st.pstdev(c) for c in e) if e else float("nan")
    steps = (
        st.median(
            math.sqrt(st.mean((c[i - 1] - 2 * c[i] + c[i + 1]) ** 2 for c in e))
            for i in range(1, len(rows) - 1)
        )
        if e and len(rows) > 2
        else float("nan")
    )
    return angles, points, expression, steps


def mouth_opening_spread(ref, span, box):
    """The spread of the reference's inner-lip opening (points 63 and 67) over the window, % of
    the box."""
    gap = [
        math.dist(ref[f]["landmarks_2d"][62][:2], ref[f]["landmarks_2d"][66][:2]) for f in span
    ]
    return 100 * st.pstdev(gap) / box


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tracks", nargs="+", metavar="TRACK_DIR")
    ap.add_argument("--video", default=default_video_dir())
    ap.add_argument("--window", type=int, default=30)
    ap.add_argument("--tol", type=float, default=1.5)
    ap.add_argument("--angle", type=float, default=2.0)
    ap.add_argument("--from", dest="first", type=int, default=45)
    ap.add_argument("--windows", action="store_true", help="list each window")
    args = ap.parse_args()
    if not os.path.isdir(args.video):
        sys.exit(f"no clips folder at {args.video} (--video DIR)")
    clips = sorted(c for c in os.listdir(args.video) if os.path.isdir(os.path.join(args.video, c)))
    results = {d: [] for d in args.tracks}
    windows = 0
    for clip in clips:
        clip_dir = os.path.join(args.video, clip)
        with open(os.path.join(clip_dir, "info.json")) as f:
            frames = json.load(f)["frames"]
        ref = load_reference(clip_dir)
        found = still_windows(ref, frames, args.window, args.tol, args.angle, args.first)
        windows += len(found)
        print(f"{clip}: {len(found)} still windows", file=sys.stderr)
        tracks = {}
        for d in args.tracks:
            path = os.path.join(d, f"{clip}.csv")
            if not os.path.isfile(path):
                sys.exit(f"{path}: no track of {clip}")
            with open(path, newline="") as f:
                tracks[d] = {int(r["frame"]): r for r in csv.DictReader(f)}
        for span, box in found:
            line = []
            for d, track in tracks.items():
                rows = [track[f] for f in span if f in track and track[f]["success"] == "1"]
                if len(rows) == len(span):
                    results[d].append(spread(rows, box))
                    if args.windows:
                        _, _, e, steps = results[d][-1]
                        line.append(f"{d}: expression {e:.4f} σ, steps {steps:.4f} σ")
            if args.windows:
                mouth = mouth_opening_spread(ref, span, box)
                print(f"  {clip} frames {span[0]}–{span[-1]}: the reference's mouth opening "
                      f"{mouth:.2f} %; " + "; ".join(line))
    print(f"{windows} still windows of {args.window} frames")
    for d, r in results.items():
        if not r:
            print(f"{d}: no window tracked throughout")
            continue
        a, p, e, steps = (st.mean(x[i] for x in r) for i in range(4))
        print(f"{d}: {len(r)} windows, angles {a:.3f}°, landmarks {p:.3f} % of the box, "
              f"expression {e:.4f} σ, its steps {steps:.4f} σ")


if __name__ == "__main__":
    main()
