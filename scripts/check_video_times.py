#!/usr/bin/env python3
"""Checks `facetrack track --source video:FILE` against `ffprobe` on each video given.

    scripts/check_video_times.py --facetrack target/release/facetrack FILE…

For each file: tracks it to a CSV, counts its frames with `ffprobe -count_frames`, reads each
frame's presentation time (`best_effort_timestamp_time`), and checks that the CSV has one row a
frame with `timestamp_ms` equal to that time (within 0.5 ms; the CSV keeps 3 decimals). Prints one
line a file and exits 1 when any differs.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile


def probe_times(path):
    out = subprocess.run(
        ['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
         'frame=best_effort_timestamp_time,pts_time', '-of', 'json', path],
        check=True, capture_output=True, text=True).stdout
    times = []
    for f in json.loads(out).get('frames', []):
        t = f.get('best_effort_timestamp_time', f.get('pts_time'))
        times.append(float(t) * 1e3 if t not in (None, 'N/A') else None)
    return times


def count_frames(path):
    out = subprocess.run(
        ['ffprobe', '-v', 'error', '-count_frames', '-select_streams', 'v:0', '-show_entries',
         'stream=nb_read_frames', '-of', 'csv=p=0', path],
        check=True, capture_output=True, text=True).stdout
    return int(next(l for l in out.split() if l.strip()).split(',')[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--facetrack', default='target/release/facetrack')
    ap.add_argument('files', nargs='+')
    args = ap.parse_args()
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.files:
            out_csv = os.path.join(tmp, 'track.csv')
            run = subprocess.run([args.facetrack, 'track', '--source', f'video:{path}',
                                  '--csv', out_csv], capture_output=True, text=True)
            if run.returncode != 0:
                print(f'FAIL {path}: facetrack exited {run.returncode}: {run.stderr.strip()[-300:]}')
                bad += 1
                continue
            summary = json.loads(run.stdout.strip().splitlines()[-1])
            with open(out_csv) as f:
                rows = list(csv.DictReader(f))
            counted = count_frames(path)
            times = probe_times(path)
            got = [float(r['timestamp_ms']) for r in rows]
            worst = max((abs(g - w) for g, w in zip(got, times) if w is not None), default=0.0)
            ok = len(rows) == counted == len(times) and worst <= 0.5
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {path}: {len(rows)} rows, ffprobe counts {counted},"
                  f" largest timestamp difference {worst:.3f} ms, {summary.get('fps', 0):.0f} fps,"
                  f" tracked {summary.get('tracked')}")
    sys.exit(1 if bad else 0)


if __name__ == '__main__':
    main()
