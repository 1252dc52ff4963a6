#!/usr/bin/env python3
"""Make the "hard cases" from the ten shared clips (Python 3 stdlib + the ffmpeg CLI).

usage: hard_cases.py OUT_DIR [--only NAME,...] [--jobs N]

The shared folder is $FACETRACK_SHARED, else ../shared next to this script's repository; the clips
are its data/video/NAME/ (NAME.mp4, info.json, ref_3ddfa.jsonl, ref_mediapipe.jsonl). Each case
becomes OUT_DIR/CASE/ with

  CASE.avi                     MJPEG in AVI (ffmpeg -c:v mjpeg -q:v 3 -pix_fmt yuvj420p -an): what
                               `facetrack track --source video:CASE.avi` reads
  info.json                    name, width, height, fps, frames (the shared clips' keys)
  ref_3ddfa.jsonl, ref_mediapipe.jsonl
                               the references moved onto the new frames, one line a frame:
                               frame, found, landmarks_2d, pose_deg, box (box = the 68 points'
                               box, as in the shared files); a frame without a face has
                               found=false and null landmarks_2d, pose_deg and box
  segments.json                (cuts only) the face segments: [{"start", "end", "source"}]
  complete.json                written last: the recipe the case was made from

so that `video_score.py TRACK.csv OUT_DIR/CASE --consensus` scores a track of it. The cases:

  clean_NAME    each clip as it is (the references copied unchanged)
  fast_NAME     frames 0, 4, 8, … of each clip (the same fps: the motion is 4x as fast)
  faster_NAME   d3, d9, d10, d11, d14: frames 0, 6, 12, … (the motion 6x as fast)
  cuts          five clips, up to 150 frames each, letterboxed into 640x480 at 30 fps, with three
                face-free stretches (a noisy wall colour, a heavily blurred stretch, a crop of a
                background without its face) and one direct cut from one face to another
  small_NAME    d3, d14: the frame padded to 4x its width and height on a grey ground, then
                halved: the face at half its pixel size in a frame twice as large
  rotated_NAME  d9, d18: the frame turned 45 degrees clockwise (ffmpeg rotate) in a frame that
                holds all of it, black corners; the pose is composed with the same turn
                (R' = Rz(45)·R, in the README's convention: +45 on roll for a frontal face)

--only takes case names, group names (clean, fast, faster, cuts, small, rotated) or shell patterns
(`fast_d*`). A case whose folder is complete with the same recipe is kept as it is; anything else
is made again in a temporary folder and moved into place when it is whole. Exit status 1 when a
case could not be made (its error is printed), 2 on a usage error.
"""
import argparse
import concurrent.futures
import fnmatch
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import sys
import time
from fractions import Fraction

RECIPE_VERSION = 1
CLIPS = ['d0', 'd3', 'd9', 'd10', 'd11', 'd14', 'd18', 's18', 's20', 's29']
REFS = ['3ddfa', 'mediapipe']
ENCODE = ['-c:v', 'mjpeg', '-q:v', '3', '-pix_fmt', 'yuvj420p', '-an']
BITEXACT = ['-fflags', '+bitexact', '-flags:v', '+bitexact']

FAST_STEP = 4
# Faster still: every 6th frame, where a head turning at a normal pace jumps a third of its size.
FASTER_STEP = 6
FASTER = ['d3', 'd9', 'd10', 'd11', 'd14']

# small_NAME: where the clip sits in its 4x canvas, as a share of the free room (0.5 = centred).
SMALL = {'d3': (0.5, 0.5), 'd14': (0.15, 0.8)}
SMALL_BG = '0x808080'

# rotated_NAME: degrees, clockwise on the screen (ffmpeg rotate's positive angle).
ROTATED = {'d9': 45.0, 'd18': 45.0}

CUTS_SIZE = (640, 480)
CUTS_FPS = 30
CUTS_FACE_FRAMES = 150
# The cuts sequence: ('face', clip, first frame, frames) or a face-free stretch.
CUTS = [
    ('face', 'd3', 0, CUTS_FACE_FRAMES),
    ('wall', 30),                       # a plain wall colour with mild moving noise
    ('face', 's18', 0, CUTS_FACE_FRAMES),
    ('blur', 's18', 150, 25),           # s18 going on, blurred until no face can be seen
    ('face', 'd11', 0, CUTS_FACE_FRAMES),
    ('face', 'd9', 0, CUTS_FACE_FRAMES),  # direct cut: d11's face straight to d9's
    ('crop', 's18', 0, 35),             # s18's background left of the person, no face in it
    ('face', 's20', 0, CUTS_FACE_FRAMES),
]
WALL_COLOUR = '0xb4a48c'
BLUR_SIGMA = 40
# The background crop of s18 (1280x720): x, y, w, h; the face and hair stay right of x = 500 in
# every frame (the references' boxes start at x >= 573), the crop is scaled up to the frame size.
CROP_RECT = (0, 180, 480, 360)

GROUPS = ['clean', 'fast', 'faster', 'cuts', 'small', 'rotated']


def shared_dir():
    env = os.environ.get('FACETRACK_SHARED')
    if env:
        return os.path.abspath(env)
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.abspath(os.path.join(repo, '..', 'shared'))


class Clip:
    def __init__(self, video_dir, name):
        self.name = name
        self.dir = os.path.join(video_dir, name)
        self.mp4 = os.path.join(self.dir, name + '.mp4')
        with open(os.path.join(self.dir, 'info.json')) as f:
            self.info = json.load(f)
        self.w, self.h = int(self.info['width']), int(self.info['height'])
        self.fps = float(self.info['fps'])
        self.frames = int(self.info['frames'])
        self._refs = {}

    def ref(self, which):
        """frame -> the reference's line (a dict), for ref_WHICH.jsonl."""
        if which not in self._refs:
            out = {}
            with open(os.path.join(self.dir, f'ref_{which}.jsonl')) as f:
                for line in f:
                    if line.strip():
                        r = json.loads(line)
                        out[int(r['frame'])] = r
            self._refs[which] = out
        return self._refs[which]


def rate(fps):
    """ffmpeg's spelling of a frame rate: '30', '30000/1001'."""
    q = Fraction(fps).limit_denominator(1001)
    return str(q.numerator) if q.denominator == 1 else f'{q.numerator}/{q.denominator}'


def even(v):
    return int(round(v / 2.0)) * 2


def even_floor(v):
    return int(v) // 2 * 2


# ---------------------------------------------------------------------------------------------
# Moving the references

class Affine:
    """x' = (x + 0.5)·sx − 0.5 + ox (pixel centres at integers, as ffmpeg's scale maps areas);
    the pose is unchanged."""

    def __init__(self, sx, sy, ox, oy):
        self.sx, self.sy, self.ox, self.oy = sx, sy, ox, oy

    def pt(self, x, y):
        return ((x + 0.5) * self.sx - 0.5 + self.ox, (y + 0.5) * self.sy - 0.5 + self.oy)

    def pose(self, p):
        return p

    def recipe(self):
        return ['affine', self.sx, self.sy, self.ox, self.oy]


def rot_x(a):
    c, s = math.cos(a), math.sin(a)
    return [[1, 0, 0], [0, c, s], [0, -s, c]]


def rot_y(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, 0, -s], [0, 1, 0], [s, 0, c]]


def rot_z(a):
    c, s = math.cos(a), math.sin(a)
    return [[c, s, 0], [-s, c, 0], [0, 0, 1]]


def matmul(a, b):
    return [[sum(a[i][k] * b[k][j] for k in range(3)) for j in range(3)] for i in range(3)]


def pose_matrix(pitch, yaw, roll):
    """R = Rx(pitch)·Ry(yaw)·Rz(roll), degrees, with the transposed elementary matrices of
    shared/data/README.md (model y up)."""
    return matmul(rot_x(math.radians(pitch)), matmul(rot_y(math.radians(yaw)), rot_z(math.radians(roll))))


def pose_angles(r):
    """(pitch, yaw, roll) in degrees of R = Rx·Ry·Rz: R02 = −sin yaw, R01/R00 = tan roll,
    R12/R22 = tan pitch."""
    yaw = math.asin(max(-1.0, min(1.0, -r[0][2])))
    pitch = math.atan2(r[1][2], r[2][2])
    roll = math.atan2(r[0][1], r[0][0])
    return math.degrees(pitch), math.degrees(yaw), math.degrees(roll)


class Rotate:
    """ffmpeg's rotate=a (clockwise on the screen by a > 0): an output pixel u (offset from the
    output's centre ((ow−1)/2, (oh−1)/2)) samples the input at its centre plus
    [[c, s], [−s, c]]·u, so an input point p lands at co + [[c, −s], [s, c]]·(p − ci). The
    head's turn in the image plane is a turn about the camera's z axis, which in the README's
    convention (model y up, Rz = [[c, s, 0], [−s, c, 0], [0, 0, 1]]) is R' = Rz(a)·R: for a
    frontal face roll' = roll + a (the top of the head goes to image right)."""

    def __init__(self, deg, in_w, in_h, out_w, out_h):
        self.deg = deg
        a = math.radians(deg)
        self.c, self.s = math.cos(a), math.sin(a)
        self.ci = ((in_w - 1) / 2.0, (in_h - 1) / 2.0)
        self.co = ((out_w - 1) / 2.0, (out_h - 1) / 2.0)
        self.rz = rot_z(a)

    def pt(self, x, y):
        dx, dy = x - self.ci[0], y - self.ci[1]
        return (self.co[0] + self.c * dx - self.s * dy, self.co[1] + self.s * dx + self.c * dy)

    def pose(self, p):
        r = matmul(self.rz, pose_matrix(p['pitch'], p['yaw'], p['roll']))
        pitch, yaw, roll = pose_angles(r)
        return {'yaw': yaw, 'pitch': pitch, 'roll': roll}

    def recipe(self):
        return ['rotate', self.deg, self.ci, self.co]


def r3(v):
    return round(v, 3)


def no_face(frame):
    return {'frame': frame, 'found': False, 'landmarks_2d': None, 'pose_deg': None, 'box': None}


def moved(line, frame, xf):
    """The reference line `line` as frame `frame` of the new video, its points moved by xf."""
    if not line or not line.get('found') or not line.get('landmarks_2d'):
        return no_face(frame)
    pts = [xf.pt(float(p[0]), float(p[1])) for p in line['landmarks_2d']]
    pts = [[r3(x), r3(y)] for x, y in pts]
    pose = line.get('pose_deg')
    if pose and all(pose.get(k) is not None for k in ('yaw', 'pitch', 'roll')):
        pose = {k: r3(v) for k, v in xf.pose(pose).items()}
    else:
        pose = None
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    return {'frame': frame, 'found': True, 'landmarks_2d': pts, 'pose_deg': pose,
            'box': [min(xs), min(ys), max(xs), max(ys)]}


# ---------------------------------------------------------------------------------------------
# The cases. Each is a recipe: ffmpeg inputs and a filter graph ending in [out], the frame size
# and rate, and for each output frame the source (clip, frame, transform) or None (no face).

class Case:
    def __init__(self, name, group, inputs, graph, width, height, fps, frames, copy_refs=None,
                 segments=None):
        self.name, self.group = name, group
        self.inputs = inputs          # list of ffmpeg input argument lists
        self.graph = graph
        self.width, self.height, self.fps = width, height, fps
        self.frames = frames          # [(Clip, src_frame, transform) or None] per output frame
        self.copy_refs = copy_refs    # a Clip whose reference files are copied as they are
        self.segments = segments

    def recipe(self):
        """Everything that decides the case's bytes, for the completeness check."""
        fr = [None if f is None else [f[0].name, f[1], f[2].recipe()] for f in self.frames]
        d = {'version': RECIPE_VERSION, 'inputs': [[os.path.basename(a) for a in i] for i in self.inputs],
             'graph': self.graph, 'size': [self.width, self.height], 'fps': self.fps,
             'encode': ENCODE, 'frames': fr, 'copy_refs': bool(self.copy_refs), 'segments': self.segments}
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def retime(fps):
    """Renumber the frames 0, 1, 2, … at the output rate: the AVI muxer fills a gap in the
    timestamps with empty chunks, which a reader counts as frames."""
    return f'settb=1/{rate(fps)},setpts=N'


def clean_case(clip):
    xf = Affine(1.0, 1.0, 0, 0)
    return Case(f'clean_{clip.name}', 'clean', [['-i', clip.mp4]],
                f'[0:v]{retime(clip.fps)}[out]', clip.w, clip.h, clip.fps,
                [(clip, i, xf) for i in range(clip.frames)], copy_refs=clip)


def fast_case(clip, step=None, group='fast'):
    step = step or FAST_STEP
    xf = Affine(1.0, 1.0, 0, 0)
    src = list(range(0, clip.frames, step))
    name = f'fast_{clip.name}' if group == 'fast' else f'{group}_{clip.name}'
    return Case(name, group, [['-i', clip.mp4]],
                f"[0:v]select='not(mod(n,{step}))',{retime(clip.fps)}[out]",
                clip.w, clip.h, clip.fps, [(clip, i, xf) for i in src])


def small_case(clip):
    fx, fy = SMALL[clip.name]
    W, H = 2 * clip.w, 2 * clip.h            # the 4x canvas, halved
    w, h = even(clip.w / 2), even(clip.h / 2)  # the clip, halved
    ox, oy = even_floor((W - w) * fx), even_floor((H - h) * fy)
    xf = Affine(w / clip.w, h / clip.h, ox, oy)
    # Halving first and padding the halved canvas gives the pixels of padding then halving.
    graph = (f'[0:v]scale={w}:{h}:flags=area,pad={W}:{H}:{ox}:{oy}:color={SMALL_BG},setsar=1,'
             f'{retime(clip.fps)}[out]')
    return Case(f'small_{clip.name}', 'small', [['-i', clip.mp4]], graph, W, H, clip.fps,
                [(clip, i, xf) for i in range(clip.frames)])


def rotated_case(clip):
    deg = ROTATED[clip.name]
    a = math.radians(deg)
    ow = even(clip.w * abs(math.cos(a)) + clip.h * abs(math.sin(a)) + 1)
    oh = even(clip.w * abs(math.sin(a)) + clip.h * abs(math.cos(a)) + 1)
    xf = Rotate(deg, clip.w, clip.h, ow, oh)
    graph = f'[0:v]rotate=a={deg}*PI/180:ow={ow}:oh={oh}:c=black,{retime(clip.fps)}[out]'
    return Case(f'rotated_{clip.name}', 'rotated', [['-i', clip.mp4]], graph, ow, oh, clip.fps,
                [(clip, i, xf) for i in range(clip.frames)])


def letterbox(clip):
    """scale and pad of a clip into CUTS_SIZE, the aspect ratio kept: (filter, Affine)."""
    W, H = CUTS_SIZE
    s = min(W / clip.w, H / clip.h)
    w, h = min(W, even(clip.w * s)), min(H, even(clip.h * s))
    ox, oy = even_floor((W - w) / 2), even_floor((H - h) / 2)
    return (f'scale={w}:{h}:flags=bicubic', f'pad={W}:{H}:{ox}:{oy}:color=black',
            Affine(w / clip.w, h / clip.h, ox, oy))


def cuts_case(clips):
    W, H = CUTS_SIZE
    inputs, chains, frames, segments = [], [], [], []
    for k, seg in enumerate(CUTS):
        label = f'[s{k}]'
        if seg[0] == 'wall':
            n = seg[1]
            chains.append(f'color=c={WALL_COLOUR}:s={W}x{H}:r={CUTS_FPS},trim=end_frame={n},'
                          f'noise=alls=10:allf=t+u:all_seed={1234 + k},format=yuv420p,setsar=1{label}')
            frames += [None] * n
            continue
        clip = clips[seg[1]]
        first, n = seg[2], seg[3]
        if first + n > clip.frames:
            raise ValueError(f'cuts: {clip.name} has {clip.frames} frames, not {first + n}')
        i = len(inputs)
        inputs.append(['-i', clip.mp4])
        take = f'[{i}:v]trim=start_frame={first}:end_frame={first + n},setpts=PTS-STARTPTS'
        if seg[0] == 'face':
            scale, pad, xf = letterbox(clip)
            chains.append(f'{take},{scale},{pad},setsar=1,format=yuv420p{label}')
            segments.append({'start': len(frames), 'end': len(frames) + n - 1, 'source': clip.name})
            frames += [(clip, first + j, xf) for j in range(n)]
        elif seg[0] == 'blur':
            scale, pad, _ = letterbox(clip)
            chains.append(f'{take},{scale},gblur=sigma={BLUR_SIGMA}:steps=3,{pad},setsar=1,'
                          f'format=yuv420p{label}')
            frames += [None] * n
        elif seg[0] == 'crop':
            x, y, w, h = CROP_RECT
            chains.append(f'{take},crop={w}:{h}:{x}:{y},scale={W}:{H}:flags=bicubic,setsar=1,'
                          f'format=yuv420p{label}')
            frames += [None] * n
        else:
            raise ValueError(f'cuts: unknown stretch {seg[0]!r}')
    labels = ''.join(f'[s{k}]' for k in range(len(CUTS)))
    graph = ';'.join(chains) + f';{labels}concat=n={len(CUTS)}:v=1:a=0,{retime(CUTS_FPS)}[out]'
    return Case('cuts', 'cuts', inputs, graph, W, H, float(CUTS_FPS), frames, segments=segments)


def all_cases(video_dir):
    clips = {n: Clip(video_dir, n) for n in CLIPS}
    cases = [clean_case(clips[n]) for n in CLIPS]
    cases += [fast_case(clips[n]) for n in CLIPS]
    cases += [fast_case(clips[n], FASTER_STEP, 'faster') for n in FASTER]
    cases.append(cuts_case(clips))
    cases += [small_case(clips[n]) for n in SMALL]
    cases += [rotated_case(clips[n]) for n in ROTATED]
    return cases


def selected(case, patterns):
    if not patterns:
        return True
    return any(p == case.name or p == case.group or fnmatch.fnmatchcase(case.name, p) for p in patterns)


# ---------------------------------------------------------------------------------------------
# Checking an AVI the way facetrack's reader counts frames

def avi_frames(path):
    """(width, height, frames, empty): the avih size and the video stream 00's chunks in `movi`
    (every ##dc/##db chunk is a frame to facetrack's reader, an empty one too)."""
    width = height = None
    frames = empty = 0
    with open(path, 'rb') as f:
        data = f.read()
    if data[:4] != b'RIFF' or data[8:12] != b'AVI ':
        raise ValueError(f'{path}: not a RIFF AVI file')

    def walk(lo, hi):
        nonlocal width, height, frames, empty
        p = lo
        while p + 8 <= hi:
            cid, size = data[p:p + 4], struct.unpack('<I', data[p + 4:p + 8])[0]
            body = p + 8
            if cid in (b'RIFF', b'LIST'):
                walk(body + 4, min(hi, body + size))
            elif cid == b'avih':
                width, height = struct.unpack('<II', data[body + 32:body + 40])
            elif cid[:2] == b'00' and cid[2:] in (b'dc', b'db'):
                frames += 1
                empty += size == 0
            p = body + size + (size & 1)

    walk(12, len(data))
    return width, height, frames, empty


# ---------------------------------------------------------------------------------------------
# Making a case

def complete(folder, case):
    try:
        with open(os.path.join(folder, 'complete.json')) as f:
            mark = json.load(f)
    except (OSError, ValueError):
        return False
    files = [f'{case.name}.avi', 'info.json'] + [f'ref_{r}.jsonl' for r in REFS]
    if case.segments is not None:
        files.append('segments.json')
    return mark.get('recipe') == case.recipe() and all(os.path.isfile(os.path.join(folder, x)) for x in files)


def write_jsonl(path, lines):
    with open(path, 'w') as f:
        for line in lines:
            f.write(json.dumps(line, separators=(',', ':')) + '\n')


def make(case, out_dir, ffmpeg):
    final = os.path.join(out_dir, case.name)
    if complete(final, case):
        return 'kept'
    tmp = os.path.join(out_dir, f'.tmp-{case.name}-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    try:
        avi = os.path.join(tmp, case.name + '.avi')
        cmd = [ffmpeg, '-nostdin', '-hide_banner', '-v', 'error', '-y']
        for i in case.inputs:
            cmd += i
        cmd += ['-filter_complex', case.graph, '-map', '[out]'] + ENCODE + BITEXACT
        cmd += ['-r', rate(case.fps), avi]
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if p.returncode != 0:
            raise RuntimeError(f'ffmpeg failed ({p.returncode}): {p.stderr.strip()[-2000:]}\n'
                               f'command: {" ".join(cmd)}')
        w, h, n, empty = avi_frames(avi)
        if (w, h, n, empty) != (case.width, case.height, len(case.frames), 0):
            raise RuntimeError(f'{avi}: {w}x{h}, {n} frames ({empty} empty); expected '
                               f'{case.width}x{case.height}, {len(case.frames)} frames, none empty')
        for which in REFS:
            dst = os.path.join(tmp, f'ref_{which}.jsonl')
            if case.copy_refs is not None:
                shutil.copyfile(os.path.join(case.copy_refs.dir, f'ref_{which}.jsonl'), dst)
                continue
            lines = []
            for k, src in enumerate(case.frames):
                if src is None:
                    lines.append(no_face(k))
                else:
                    clip, i, xf = src
                    lines.append(moved(clip.ref(which).get(i), k, xf))
            write_jsonl(dst, lines)
        info = {'name': case.name, 'width': case.width, 'height': case.height,
                'fps': float(case.fps), 'frames': len(case.frames)}
        with open(os.path.join(tmp, 'info.json'), 'w') as f:
            json.dump(info, f, indent=1)
        if case.segments is not None:
            with open(os.path.join(tmp, 'segments.json'), 'w') as f:
                json.dump(case.segments, f, indent=1)
        with open(os.path.join(tmp, 'complete.json'), 'w') as f:
            json.dump({'recipe': case.recipe(), 'made_by': 'scripts/hard_cases.py'}, f)
        if os.path.exists(final):
            shutil.rmtree(final)
        try:
            os.rename(tmp, final)
        except OSError:
            # another run moved the same case into place meanwhile
            if not complete(final, case):
                raise
            shutil.rmtree(tmp, ignore_errors=True)
        return 'made'
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out_dir')
    ap.add_argument('--only', default='', help='cases: names, groups or patterns, comma-separated')
    ap.add_argument('--jobs', type=int, default=os.cpu_count() or 2, help='ffmpeg runs at a time')
    args = ap.parse_args()

    video_dir = os.path.join(shared_dir(), 'data', 'video')
    if not os.path.isdir(video_dir):
        sys.stderr.write(f'hard_cases.py: no clips at {video_dir} (set FACETRACK_SHARED)\n')
        sys.exit(2)
    ffmpeg = shutil.which('ffmpeg')
    if not ffmpeg:
        sys.stderr.write('hard_cases.py: ffmpeg not found on PATH\n')
        sys.exit(2)
    patterns = [p.strip() for p in args.only.split(',') if p.strip()]
    cases = [c for c in all_cases(video_dir) if selected(c, patterns)]
    if not cases:
        names = ', '.join(c.name for c in all_cases(video_dir))
        sys.stderr.write(f'hard_cases.py: --only {args.only!r} matches no case; cases: {names}\n')
        sys.exit(2)
    os.makedirs(args.out_dir, exist_ok=True)

    t0 = time.monotonic()
    failed = 0

    def one(case):
        t = time.monotonic()
        return case, make(case, args.out_dir, ffmpeg), time.monotonic() - t

    # the longest first, so that the pool ends together
    order = sorted(cases, key=lambda c: -len(c.frames) * c.width * c.height)
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(one, c): c for c in order}
        for fut in concurrent.futures.as_completed(futures):
            c = futures[fut]
            try:
                _, what, dt = fut.result()
                print(f'{c.name}: {what} ({len(c.frames)} frames {c.width}x{c.height}, {dt:.1f} s)', flush=True)
            except Exception as e:  # report every case, then fail
                failed += 1
                print(f'{c.name}: FAILED: {e}', file=sys.stderr, flush=True)
    print(f'{len(cases) - failed} of {len(cases)} cases ready in {args.out_dir} '
          f'({time.monotonic() - t0:.1f} s)', flush=True)
    sys.exit(1 if failed else 0)


if __name__ == '__main__':
    main()
