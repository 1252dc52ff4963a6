#!/usr/bin/env python3
"""Track every hard case with facetrack and score it (Python 3 stdlib).

usage: score_cases.py --facetrack BIN CASES_DIR [--method parm] [--cases a,b,...] [--json OUT.json]
                      [--timeout SECONDS]

CASES_DIR is what scripts/hard_cases.py made. For each case CASE it runs

    BIN track --source video:CASES_DIR/CASE/CASE.avi --csv CASES_DIR/CASE/track.csv --method M

(its JSON summary line is kept in CASE/summary.json, its stderr in CASE/track.log), then
shared/tools/video_score.py on the CSV twice, plainly and with --consensus ($FACETRACK_SHARED, else
../shared next to this script's repository), and prints a markdown table, one row a case:

  frames               frames of the video
  ref_found            frames where the reference (3DDFA) has a face
  tracked              share of those with success=1
  fail10, nme, nme_p90 (--consensus) share of frames over 10 % NME, mean NME, its 90th percentile,
                       over the frames where both references have a face and agree
  tracked_without_ref  frames with success=1 where the reference has no face
  refind               (cuts) the most frames any face segment waits, from its first frame, for
                       its first frame with success=1 and NME < 10 % against the reference; a
                       segment never found counts as its whole length (and is listed below)
  fps                  the tracker's own summary
  conf                 mean of a `confidence` column or summary field, where there is one
                       (--json also holds confidence_tracked_min: the lowest confidence of a
                       frame with success=1)

then a line with the worst case of each column, and notes (a failed run, CSV rows missing or
outside the video, a frame column that is not the 0-based index). --cases takes case names, group
names (clean, fast, cuts, small, rotated) or shell patterns. --json writes every number. The exit
status is 0 whatever the numbers (it reports; tests assert), 2 on a usage error.
"""
import argparse
import csv
import fnmatch
import json
import math
import os
import statistics
import subprocess
import sys
import time

# The case names, groups and the shared folder are the case maker's.
from hard_cases import CLIPS, GROUPS, shared_dir

REFIND_NME = 10.0

# column: (header, JSON key, format, which way is worse: 'min', 'max' or None)
COLUMNS = [
    ('frames', 'frames', '{:d}', None),
    ('ref_found', 'ref_found', '{:d}', None),
    ('tracked', 'tracked', '{:.3f}', 'min'),
    ('fail10', 'fail10', '{:.3f}', 'max'),
    ('nme', 'nme', '{:.2f}', 'max'),
    ('nme_p90', 'nme_p90', '{:.2f}', 'max'),
    ('tracked_without_ref', 'tracked_without_ref', '{:d}', 'max'),
    ('refind', 'refind', '{:d}', 'max'),
    ('fps', 'fps', '{:.1f}', 'min'),
    ('conf', 'confidence', '{:.3f}', 'min'),
]


def group_of(name):
    return name.split('_', 1)[0]


def sort_key(name):
    g = group_of(name)
    clip = name.split('_', 1)[1] if '_' in name else ''
    return (GROUPS.index(g) if g in GROUPS else len(GROUPS), CLIPS.index(clip) if clip in CLIPS else len(CLIPS), name)


def find_cases(cases_dir, patterns):
    names = []
    for n in os.listdir(cases_dir):
        d = os.path.join(cases_dir, n)
        if os.path.isfile(os.path.join(d, 'info.json')) and os.path.isfile(os.path.join(d, n + '.avi')):
            if not patterns or any(p == n or p == group_of(n) or fnmatch.fnmatchcase(n, p) for p in patterns):
                names.append(n)
    return sorted(names, key=sort_key)


def fnum(v):
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def load_ref(path):
    """frame -> 68 points or None."""
    out = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                pts = r.get('landmarks_2d')
                out[int(r['frame'])] = [(float(x), float(y)) for x, y in pts] if r.get('found') and pts and len(pts) == 68 else None
    return out


def load_csv(path):
    """(rows: frame -> {'success', 'pts', 'confidence'}, frame column values in row order, has
    a confidence column)."""
    rows, order = {}, []
    with open(path, newline='') as f:
        rd = csv.DictReader(f)
        cols = set(rd.fieldnames or [])
        has_pts = all(f'x_{k}' in cols and f'y_{k}' in cols for k in range(68))
        has_conf = 'confidence' in cols
        for n, row in enumerate(rd):
            fr = fnum(row.get('frame')) if 'frame' in cols else n
            if fr is None:
                continue
            fr = int(fr)
            order.append(fr)
            s = (row.get('success') or '').strip().lower()
            ok = s in ('true', 'yes') or (fnum(s) is not None and fnum(s) != 0) if 'success' in cols else True
            pts = None
            if ok and has_pts:
                xy = [(fnum(row[f'x_{k}']), fnum(row[f'y_{k}'])) for k in range(68)]
                if all(x is not None and y is not None for x, y in xy):
                    pts = xy
            rows[fr] = {'success': ok, 'pts': pts, 'confidence': fnum(row.get('confidence')) if has_conf else None}
    return rows, order, has_conf


def nme(pts, ref):
    xs, ys = [p[0] for p in ref], [p[1] for p in ref]
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    if w <= 0 or h <= 0:
        return None
    return 100 * statistics.fmean(math.dist(p, q) for p, q in zip(pts, ref)) / math.sqrt(w * h)


def refind(segments, rows, ref):
    """Per segment: frames from its start to its first frame with success=1 and NME < 10 %, or
    None when there is none."""
    out = []
    for s in segments:
        found = None
        for i in range(int(s['start']), int(s['end']) + 1):
            r, t = ref.get(i), rows.get(i)
            if r and t and t['success'] and t['pts']:
                e = nme(t['pts'], r)
                if e is not None and e < REFIND_NME:
                    found = i - int(s['start'])
                    break
        out.append({'start': s['start'], 'end': s['end'], 'source': s.get('source'), 'refind': found})
    return out


def run_score(video_score, csv_path, case_dir, consensus):
    cmd = [sys.executable, video_score, csv_path, case_dir] + (['--consensus'] if consensus else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError(f'video_score.py failed ({p.returncode}): {p.stderr.strip()}')
    return json.loads(p.stdout)


def last_json(text):
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith('{'):
            try:
                return json.loads(line)
            except ValueError:
                pass
    return None


def score_case(args, video_score, name):
    d = os.path.join(args.cases_dir, name)
    avi = os.path.join(d, name + '.avi')
    csv_path = os.path.join(d, 'track.csv')
    with open(os.path.join(d, 'info.json')) as f:
        info = json.load(f)
    res = {'case': name, 'group': group_of(name), 'frames': int(info['frames']), 'notes': []}
    if os.path.exists(csv_path):
        os.remove(csv_path)
    cmd = [args.facetrack, 'track', '--source', f'video:{avi}', '--csv', csv_path, '--method', args.method]
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=args.timeout)
        rc, out, err = p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired as e:
        rc, out, err = 'timeout', e.stdout or '', e.stderr or ''
        out = out.decode(errors='replace') if isinstance(out, bytes) else out
        err = err.decode(errors='replace') if isinstance(err, bytes) else err
    except OSError as e:
        rc, out, err = 'not run', '', str(e)
    res['track_s'] = round(time.monotonic() - t0, 2)
    with open(os.path.join(d, 'track.log'), 'w') as f:
        f.write(err)
    summary = last_json(out)
    res['summary'] = summary
    if summary is not None:
        with open(os.path.join(d, 'summary.json'), 'w') as f:
            json.dump(summary, f)
        res['fps'] = fnum(summary.get('fps'))
    if rc != 0:
        tail = ' | '.join(err.strip().splitlines()[-3:])
        res['notes'].append(f'tracker exit {rc}: {tail}')
        res['error'] = f'tracker exit {rc}'
    if not os.path.exists(csv_path):
        res['notes'].append('no CSV written')
        res['error'] = res.get('error') or 'no CSV'
        return res

    rows, order, has_conf = load_csv(csv_path)
    n = res['frames']
    res['csv_rows'] = len(order)
    outside = sum(1 for i in order if not 0 <= i < n)
    dup = len(order) - len(set(order))
    if outside or dup:
        res['notes'].append(f'CSV frame column: {outside} outside 0..{n - 1}, {dup} repeated')
    if order and order != sorted(order):
        res['notes'].append('CSV rows not in frame order')
    if len(set(order)) != n:
        res['notes'].append(f'CSV has {len(set(order))} distinct frames of {n}')
    if order and min(order) != 0 and n:
        res['notes'].append(f'CSV starts at frame {min(order)}, not 0')

    try:
        plain = run_score(video_score, csv_path, d, False)
        cons = run_score(video_score, csv_path, d, True)
    except (RuntimeError, ValueError) as e:
        res['notes'].append(str(e))
        res['error'] = res.get('error') or 'video_score failed'
        return res
    res['score'], res['score_consensus'] = plain, cons
    res['ref_found'] = plain.get('ref_found')
    res['tracked'] = plain.get('tracked')
    res['tracked_without_ref'] = plain.get('tracked_without_ref')
    res['consensus_frames'] = (cons.get('consensus') or {}).get('frames')
    for k in ('fail10', 'nme', 'nme_p90'):
        res[k] = cons.get(k)
    if cons.get('n_nme', 0) == 0 and (res['consensus_frames'] or 0) > 0:
        res['notes'].append('no tracked frame to measure NME on: fail10/nme counted as missing')

    ref = load_ref(os.path.join(d, f'ref_{plain.get("ref", "3ddfa")}.jsonl'))
    seg_path = os.path.join(d, 'segments.json')
    if os.path.exists(seg_path):
        with open(seg_path) as f:
            segs = refind(json.load(f), rows, ref)
        res['segments'] = segs
        never = [s for s in segs if s['refind'] is None]
        res['refind'] = max((s['refind'] if s['refind'] is not None else s['end'] - s['start'] + 1) for s in segs) if segs else None
        if never:
            res['notes'].append('never found: ' + ', '.join(f'{s["source"]} ({s["start"]}-{s["end"]})' for s in never))

    conf = None
    if has_conf:
        vals = [r['confidence'] for r in rows.values() if r['confidence'] is not None]
        conf = statistics.fmean(vals) if vals else None
        tracked_conf = [r['confidence'] for r in rows.values() if r['success'] and r['confidence'] is not None]
        res['confidence_tracked_min'] = min(tracked_conf) if tracked_conf else None
        noref = [r['confidence'] for i, r in rows.items() if r['confidence'] is not None and not ref.get(i)]
        if noref:
            res['confidence_no_ref'] = statistics.fmean(noref)
    elif summary is not None:
        keys = [k for k in summary if 'confidence' in k and fnum(summary[k]) is not None]
        if keys:
            conf = fnum(summary[keys[0]])
            res['confidence_from'] = f'summary.{keys[0]}'
    res['confidence'] = conf
    return res


def cell(v, fmt):
    if v is None:
        return '–'
    if fmt == '{:d}':
        return fmt.format(int(v))
    return fmt.format(v)


def worst(results):
    out = {}
    for _, key, _, way in COLUMNS:
        vals = [(r[key], r['case']) for r in results if r.get(key) is not None]
        if way and vals:
            v = min(vals) if way == 'min' else max(vals)
            out[key] = {'value': v[0], 'case': v[1]}
    return out


def table(results, worst_):
    lines = ['| case | ' + ' | '.join(c[0] for c in COLUMNS) + ' |',
             '| --- | ' + ' | '.join('---:' for _ in COLUMNS) + ' |']
    for r in results:
        lines.append(f'| {r["case"]} | ' + ' | '.join(cell(r.get(k), f) for _, k, f, _ in COLUMNS) + ' |')
    lines.append('| **worst** | ' + ' | '.join(
        (f'{cell(worst_[k]["value"], f)} ({worst_[k]["case"]})' if k in worst_ else '') for _, k, f, _ in COLUMNS) + ' |')
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('cases_dir')
    ap.add_argument('--facetrack', required=True, help='the facetrack binary')
    ap.add_argument('--method', default='parm')
    ap.add_argument('--cases', default='', help='names, groups or patterns, comma-separated')
    ap.add_argument('--json', help='write every number here')
    ap.add_argument('--timeout', type=float, default=900, help='seconds a tracker run may take')
    args = ap.parse_args()

    video_score = os.path.join(shared_dir(), 'tools', 'video_score.py')
    if not os.path.isfile(video_score):
        sys.stderr.write(f'score_cases.py: no {video_score} (set FACETRACK_SHARED)\n')
        sys.exit(2)
    if not os.path.isdir(args.cases_dir):
        sys.stderr.write(f'score_cases.py: no folder {args.cases_dir} (make it with scripts/hard_cases.py)\n')
        sys.exit(2)
    patterns = [p.strip() for p in args.cases.split(',') if p.strip()]
    names = find_cases(args.cases_dir, patterns)
    if not names:
        sys.stderr.write(f'score_cases.py: no case in {args.cases_dir} matches {args.cases!r}\n')

    t0 = time.monotonic()
    results = []
    for name in names:
        r = score_case(args, video_score, name)
        results.append(r)
        print(f'{name}: {r["track_s"]:.1f} s' + (f' ({r["error"]})' if r.get('error') else ''), file=sys.stderr, flush=True)
    total = time.monotonic() - t0
    w = worst(results)
    print(f'facetrack track --method {args.method}: {len(results)} cases in {total:.1f} s\n')
    print(table(results, w))
    notes = [(r['case'], n) for r in results for n in r['notes']]
    if notes:
        print('\nnotes:')
        for c, n in notes:
            print(f'- {c}: {n}')
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'facetrack': args.facetrack, 'method': args.method, 'cases_dir': args.cases_dir,
                       'seconds': round(total, 2), 'cases': results, 'worst': w}, f, indent=1)
    sys.exit(0)


if __name__ == '__main__':
    main()
