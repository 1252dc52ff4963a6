#!/usr/bin/env python3
"""Correlate facetrack's named controls with what the reference tracks measure (Python 3 stdlib).

usage: score_controls.py --facetrack BIN [--clips d3,d9,...] [--out DIR] [--json OUT.json] [-- extra track args]

For each shared clip (../shared/data/video/NAME), tracks it with
    BIN track --source video:NAME.mp4 --csv OUT/NAME.csv
and, over the frames both facetrack and the reference track, gives Pearson's r of
- jawOpen with the mouth opening between the reference's inner-lip points (61–67, 62–66,
  63–65), over the square root of its box's area;
- mouthSmileLeft and mouthSmileRight with the mouth-corner distance (48–54), likewise;
- eyeBlinkLeft / eyeBlinkRight with minus the reference's eye opening (eyelid gaps 43–47, 44–46
  and 37–41, 38–40 over the eye's width 42–45 and 36–39): the person's left eye is 42–47.
against both references (3DDFA_V2 and MediaPipe). r is left out (null) where a value does not
vary over the clip.
"""
import argparse, csv, json, math, os, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))
VIDEO = os.path.normpath(os.path.join(HERE, '..', '..', 'shared', 'data', 'video'))
CLIPS = ['d0', 'd3', 'd9', 'd10', 'd11', 'd14', 'd18', 's18', 's20', 's29']


def dist(a, b):
    return math.hypot(a[0] - b[0], a[1] - b[1])


def ref_measures(lm, box):
    size = math.sqrt(max(box[2] - box[0], 1e-9) * max(box[3] - box[1], 1e-9))
    lips = sum(dist(lm[a], lm[b]) for a, b in [(61, 67), (62, 66), (63, 65)]) / 3 / size
    corners = dist(lm[48], lm[54]) / size

    def eye(pairs, w):
        return sum(dist(lm[a], lm[b]) for a, b in pairs) / 2 / max(dist(lm[w[0]], lm[w[1]]), 1e-9)
    left = eye([(43, 47), (44, 46)], (42, 45))
    right = eye([(37, 41), (38, 40)], (36, 39))
    return {'lips': lips, 'corners': corners, 'eye_left': left, 'eye_right': right}


def pearson(x, y):
    n = len(x)
    if n < 3:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    if sxx <= 1e-12 or syy <= 1e-12:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / math.sqrt(sxx * syy)


PAIRS = [
    ('jawOpen', 'lips', 1),
    ('mouthSmileLeft', 'corners', 1),
    ('mouthSmileRight', 'corners', 1),
    ('eyeBlinkLeft', 'eye_left', -1),
    ('eyeBlinkRight', 'eye_right', -1),
]


def score(csv_path, clip_dir):
    rows = {}
    with open(csv_path) as f:
        for r in csv.DictReader(f):
            if r['success'] == '1':
                rows[int(r['frame'])] = {k: float(r[k]) for k, _, _ in PAIRS}
    out = {}
    refs = {}
    for ref in ['3ddfa', 'mediapipe']:
        refs[ref] = {}
        with open(os.path.join(clip_dir, f'ref_{ref}.jsonl')) as f:
            for line in f:
                j = json.loads(line)
                if j.get('found'):
                    refs[ref][j['frame']] = ref_measures(j['landmarks_2d'], j['box'])
    for ref in ['3ddfa', 'mediapipe']:
        frames = sorted(set(rows) & set(refs[ref]))
        out[ref] = {}
        for name, measure, sign in PAIRS:
            r = pearson([rows[i][name] for i in frames], [sign * refs[ref][i][measure] for i in frames])
            out[ref][name] = None if r is None else round(r, 3)
        out[ref]['frames'] = len(frames)
    # How far the references agree with each other: what a measurement can be held to.
    frames = sorted(set(refs['3ddfa']) & set(refs['mediapipe']))
    out['refs'] = {}
    for name, measure, _ in PAIRS:
        r = pearson([refs['3ddfa'][i][measure] for i in frames], [refs['mediapipe'][i][measure] for i in frames])
        out['refs'][name] = None if r is None else round(r, 3)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--facetrack', required=True)
    ap.add_argument('--clips', default=','.join(CLIPS))
    ap.add_argument('--out', default='/tmp/score_controls')
    ap.add_argument('--json')
    ap.add_argument('extra', nargs='*', help='more arguments for track (after --)')
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    results = {}
    for name in [c for c in a.clips.split(',') if c]:
        d = os.path.join(VIDEO, name)
        out_csv = os.path.join(a.out, name + '.csv')
        if os.path.exists(out_csv):
            os.remove(out_csv)
        cmd = [a.facetrack, 'track', '--source', 'video:' + os.path.join(d, name + '.mp4'),
               '--csv', out_csv] + a.extra
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            sys.stderr.write(f'{name}: track failed ({p.returncode}): {p.stderr[-500:]}\n')
            continue
        results[name] = score(out_csv, d)
        sys.stderr.write(f'{name}: {json.dumps(results[name])}\n')
    names = [n for n, _, _ in PAIRS]
    print('| clip | ref | ' + ' | '.join(names) + ' |')
    print('|---|---|' + '---|' * len(names))
    for clip, r in results.items():
        for ref in ['3ddfa', 'mediapipe', 'refs']:
            cells = ['–' if r[ref][n] is None else f'{r[ref][n]:.2f}' for n in names]
            print(f'| {clip} | {ref} | ' + ' | '.join(cells) + ' |')
    if a.json:
        with open(a.json, 'w') as f:
            json.dump(results, f, indent=1)


if __name__ == '__main__':
    main()
