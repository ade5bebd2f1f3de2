"""The body's fidelity: pose agreement and stillness, ours against KalidoKit's Pose.solve.

    python -m live2d_pose.bench.fidelity_body           # or: live2d-pose bench --fidelity (both halves)
    python -m live2d_pose.bench.fidelity_body --update-docs

Two solvers, each on the same recorded MediaPipe results
(fidelity_body_inputs.py), each smoothed its own way, each read the same way:

- ours: live2d_pose.rig (SOLVE, presence and grounding, the One Euro
  filters): the smoothed state after every result, as the outputs send it;
- KalidoKit: its Pose.solve applied to a VRM as its demo applies it
  (bench/kalidokit_pose.mjs: Euler angles with the demo's dampeners, each bone
  slerped 0.3 of the way per result), turned into the same frame and sides.

The avatar's pose is read by forward kinematics of those local rotations on
the normalized humanoid's rest (the T-pose: arms along +-X, legs down -Y),
the same for both. Two figures:

- **Pose agreement.** Per limb segment (upper arm, forearm, thigh, shin), the
  angle between the avatar's segment and the person's in MediaPipe's world
  landmarks, each in its own upper torso's frame (the avatar's chest; the
  person's shoulders and the line from the hips' to the shoulders' centre).
  Mean and 90th percentile over the results where the person's segment is in
  the picture (both ends inside the image, visibility >= 0.5).
- **Stillness.** On a photo held still (15 fps, a camera's noise), each major
  bone's rotation (MAJOR_BONES: hips, spine, chest, neck, head, upper and lower
  arms and legs), in the avatar's world, between readings 0.4 s apart, after
  the first second: the 95th percentile and the largest, per bone; and the
  same with the hands and feet too.

Beside them, MediaPipe's own figures, for scale: its landmarks against their
own centred, lag-free mean over three results (what the lightest smoothing,
were it free of lag, would already cost in agreement), and its segments' own
steps on the still photos (the jitter a solver starts from).

Everything runs on the recordings' timestamps: two runs give the same figures.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np

from live2d_pose import wire
from live2d_pose.bench import fidelity_body_inputs as inputs
from live2d_pose.rig.limbs import ARMS, SEEN, Landmarks
from live2d_pose.rig.quat import IDENTITY, angle_between, conjugate, frame, mid, multiply, normalize, rotate, sub

log = logging.getLogger("live2d_pose.bench.fidelity")

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "bench" / "results" / "fidelity"
NODE_RUNNER = Path(__file__).with_name("kalidokit_pose.mjs")
DOCS = (REPO / "docs" / "viewer.md", REPO / "README.md")
DOCS_BEGIN = "<!-- body-fidelity:begin (python -m live2d_pose.bench.fidelity_body --update-docs) -->"
DOCS_END = "<!-- body-fidelity:end -->"

DOWN = (0.0, -1.0, 0.0)
SIDES = ("left", "right")
# segment -> (the person's landmarks per side, the avatar's bone chain from the chest or the hips)
SEGMENTS = {
    "upper arm": ({"left": (11, 13), "right": (12, 14)}, ("UpperArm",)),
    "forearm": ({"left": (13, 15), "right": (14, 16)}, ("UpperArm", "LowerArm")),
    "thigh": ({"left": (23, 25), "right": (24, 26)}, ("UpperLeg",)),
    "shin": ({"left": (25, 27), "right": (26, 28)}, ("UpperLeg", "LowerLeg")),
}
GROUPS = {"arms": ("upper arm", "forearm"), "legs": ("thigh", "shin")}
# Targets: mean and p90 (degrees) per group, and at most this share of KalidoKit's
AGREEMENT_TARGETS = {"arms": (5.0, 10.0), "legs": (6.0, 12.0)}
KALIDOKIT_SHARE = 0.5
STILL_STEP_MS = 400.0
STILL_SETTLE_MS = 1000.0
STILLNESS_TARGETS = (1.0, 3.0)  # p95 and max step, degrees, every major bone

PARENT = {"spine": "hips", "chest": "spine", "neck": "chest", "head": "neck",
          **{f"{s}{b}": p for s in SIDES for b, p in (
              ("UpperArm", "chest"), ("LowerArm", "UpperArm"), ("Hand", "LowerArm"),
              ("UpperLeg", "hips"), ("LowerLeg", "UpperLeg"), ("Foot", "LowerLeg"))}}
# The major bones (the stillness target's): the trunk, the head and the limbs' long bones. The hands and feet
# are read too and reported beside them ("hands and feet too"); fingers and toes are not read.
MAJOR_BONES = ("hips", "spine", "chest", "neck", "head") + tuple(
    f"{s}{b}" for s in SIDES for b in ("UpperArm", "LowerArm", "UpperLeg", "LowerLeg"))
HANDS_AND_FEET = tuple(f"{s}{b}" for s in SIDES for b in ("Hand", "Foot"))
READ_BONES = MAJOR_BONES + HANDS_AND_FEET


def _parent(bone: str) -> str | None:
    parent = PARENT.get(bone)
    if parent and parent[0].isupper():  # "UpperArm": the same side's
        parent = bone[:4 if bone.startswith("left") else 5] + parent
    return parent


# ------------------------------------------------------------------ the two solvers


def ours(messages: list[dict]) -> list[dict]:
    """live2d_pose.rig over one subject's messages: the smoothed local rotations after each."""
    from live2d_pose.rig import Rig
    from live2d_pose.rig.results import parse_result

    rig, poses = Rig(), []
    for m in messages:
        rig.offer(parse_result(wire.pack(m), received_ms=m["ts"]["ingest"]))
        poses.append(dict(rig.smoothed.bones))
    return poses


# KalidoKit's VRM 0.x bones -> the state's names, the subject's sides: the demo's avatar mirrors the
# person (its "RightUpperArm" follows MediaPipe's left-side landmarks 11/13/15).
KALIDOKIT_BONES = {"Hips": "hips", "Spine": "spine", "Chest": "chest",
                   **{f"{side}{b}": f"{'left' if side == 'Right' else 'right'}{b}" for side in ("Left", "Right")
                      for b in ("UpperArm", "LowerArm", "UpperLeg", "LowerLeg")}}


def from_kalidokit(q) -> tuple:
    """A VRM 0.x raw bone's local rotation (the model facing -Z) -> the state's (facing +Z), mirrored.

    Facing +Z is the same body turned half a turn about Y: (x, y, z, w) -> (-x, y, -z, w). The
    mirror (docs/rig.md "Mirror") then reflects through the YZ plane: (x, y, z, w) -> (x, -y, -z, w).
    Together: (-x, -y, z, w)."""
    x, y, z, w = q
    return (-x, -y, z, w)


def kalidokit(subjects: dict[str, list[dict]], node: str | None = None) -> dict[str, list[dict]]:
    """KalidoKit's Pose.solve through its demo (node), per subject: the local rotations after each message."""
    node = node or shutil.which("node")
    if not node:
        raise RuntimeError("node is not on PATH: KalidoKit's solver runs in node (make setup installs web/)")
    request = {"subjects": {name: [_kalidokit_frame(m) for m in messages] for name, messages in subjects.items()}}
    done = subprocess.run([node, str(NODE_RUNNER)], input=json.dumps(request), capture_output=True, text=True,
                          cwd=REPO, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"node {NODE_RUNNER.name} failed: {done.stderr.strip()[-2000:]}")
    answer = json.loads(done.stdout)["subjects"]
    return {name: [{KALIDOKIT_BONES[b]: from_kalidokit(q) for b, q in step["bones"].items()} for step in steps]
            for name, steps in answer.items()}


def _kalidokit_frame(message: dict) -> dict | None:
    """One message's pose as the demo hands it to Pose.solve: world and image landmarks with visibility."""
    poses = message.get("poses") or []
    if not poses:
        return None
    pose = wire.Pose.from_wire(poses[0])
    visibility = pose.landmarks[:, 3:4]
    return {"world": np.hstack([pose.world, visibility]).round(6).tolist(),
            "image": np.hstack([pose.landmarks[:, :3], visibility]).round(6).tolist()}


# ------------------------------------------------------------------ reading a pose


def avatar_segments(bones: dict) -> dict:
    """(segment, side) -> the avatar's segment direction in its upper torso's (the chest's) frame."""
    get = lambda name: bones.get(name, IDENTITY)  # noqa: E731
    torso = multiply(get("spine"), get("chest"))  # the chest relative to the hips
    out = {}
    for segment, (_, chain) in SEGMENTS.items():
        for side in SIDES:
            q = IDENTITY
            for link in chain:
                q = multiply(q, get(f"{side}{link}"))
            if chain[0] == "UpperArm":
                out[(segment, side)] = rotate(q, ARMS[side].d0)
            else:
                out[(segment, side)] = rotate(multiply(conjugate(torso), q), DOWN)
    return out


def person_segments(pose: wire.Pose) -> dict:
    """(segment, side) -> the person's segment direction in their upper torso's frame, for the
    segments in the picture (both ends inside the image with visibility >= SEEN, shoulders too)."""
    lm = Landmarks(pose)
    if lm.c(11, 12) < SEEN:
        return {}
    P = lm.P
    torso = frame(sub(P[11], P[12]), sub(mid(P[11], P[12]), mid(P[23], P[24])))
    out = {}
    for segment, (ends, _) in SEGMENTS.items():
        for side in SIDES:
            a, b = ends[side]
            if lm.c(a, b) >= SEEN:
                out[(segment, side)] = rotate(conjugate(torso), normalize(sub(P[b], P[a])))
    return out


def _angle(u, v) -> float:
    return math.degrees(math.acos(max(-1.0, min(1.0, sum(a * b for a, b in zip(u, v))))))


def agreement(messages: list[dict], poses: list[dict]) -> dict[str, list[float]]:
    """segment -> the angles (degrees) between avatar and person, both sides, every result it is seen in."""
    out = {segment: [] for segment in SEGMENTS}
    for message, bones in zip(messages, poses):
        if not message.get("poses"):
            continue
        person = person_segments(wire.Pose.from_wire(message["poses"][0]))
        avatar = avatar_segments(bones)
        for (segment, side), direction in person.items():
            out[segment].append(_angle(direction, avatar[(segment, side)]))
    return out


def mediapipe_agreement(messages: list[dict]) -> dict[str, list[float]]:
    """segment -> MediaPipe's segment against its own centred mean over the result before, itself and
    the one after (no lag): the agreement the lightest smoothing would already give up."""
    segments = [person_segments(wire.Pose.from_wire(m["poses"][0])) if m.get("poses") else {} for m in messages]
    out = {segment: [] for segment in SEGMENTS}
    for i, person in enumerate(segments):
        for key, direction in person.items():
            near = [segments[j][key] for j in (i - 1, i, i + 1) if 0 <= j < len(segments) and key in segments[j]]
            out[key[0]].append(_angle(direction, normalize(tuple(sum(v[k] for v in near) for k in range(3)))))
    return out


def mediapipe_stillness(messages: list[dict]) -> dict[str, list[float]]:
    """segment -> MediaPipe's own segment steps (in the person's torso frame) STILL_STEP_MS apart."""
    t = np.array([m["ts"]["ingest"] for m in messages], float)
    segments = [person_segments(wire.Pose.from_wire(m["poses"][0])) if m.get("poses") else {} for m in messages]
    out = {segment: [] for segment in SEGMENTS}
    for i, ti in enumerate(t):
        j = int(np.searchsorted(t, ti + STILL_STEP_MS - 1e-6))
        if ti < t[0] + STILL_SETTLE_MS or j >= len(t):
            continue
        for key, direction in segments[i].items():
            if key in segments[j]:
                out[key[0]].append(_angle(direction, segments[j][key]))
    return out


def world_rotations(bones: dict) -> dict:
    """Each major bone's rotation in the avatar's world: the product of the local rotations from the hips."""
    out = {}
    for bone in READ_BONES:
        chain, b = [], bone
        while b is not None:
            chain.append(bones.get(b, IDENTITY))
            b = _parent(b)
        q = IDENTITY
        for local in reversed(chain):
            q = multiply(q, local)
        out[bone] = q
    return out


def stillness(messages: list[dict], poses: list[dict], bones: tuple[str, ...]) -> dict[str, list[float]]:
    """bone -> its steps (degrees) between readings STILL_STEP_MS apart, after STILL_SETTLE_MS."""
    t = np.array([m["ts"]["ingest"] for m in messages], float)
    rotations = [world_rotations(p) for p in poses]
    out = {bone: [] for bone in bones}
    for i, ti in enumerate(t):
        j = int(np.searchsorted(t, ti + STILL_STEP_MS - 1e-6))
        if ti < t[0] + STILL_SETTLE_MS or j >= len(t):
            continue
        for bone in bones:
            out[bone].append(math.degrees(angle_between(rotations[i][bone], rotations[j][bone])))
    return out


# ------------------------------------------------------------------ the figures


def _stats(values) -> dict:
    v = np.asarray(values, float)
    if not len(v):
        return {"n": 0, "mean": math.nan, "p90": math.nan, "p95": math.nan, "max": math.nan}
    return {"n": int(len(v)), "mean": float(v.mean()), "p90": float(np.percentile(v, 90)),
            "p95": float(np.percentile(v, 95)), "max": float(v.max())}


SOLVERS = ("ours", "kalidokit")
KALIDOKIT_DRIVES = ("hips", "spine", "chest") + tuple(
    f"{s}{b}" for s in SIDES for b in ("UpperArm", "LowerArm", "UpperLeg", "LowerLeg"))


def evaluate(names: list[str] | None = None, fresh: bool = False) -> dict:
    names = names or inputs.FIGURE_INPUTS
    result = {"inputs": {}, "agreement": {}, "stillness": {}}
    for name in names:
        spec = inputs.INPUTS[name]
        recording = inputs.load(name, fresh=fresh)
        people = inputs.subjects(recording, name)
        result["inputs"][name] = {"about": spec.about, "source": recording["source"],
                                  "subjects": {k: sum(bool(m.get("poses")) for m in v) for k, v in people.items()}}
        solved = {"ours": {k: ours(v) for k, v in people.items()}, "kalidokit": kalidokit(people)}
        if spec.kind == "video":
            result["agreement"][name] = _agreement(people, solved)
        else:
            result["stillness"][name] = _stillness(people, solved)
    result["targets"] = targets(result)
    return result


def _pooled(people, measure) -> dict:
    """{name: [values]} of ``measure(subject, messages)`` pooled over the subjects."""
    out: dict[str, list] = {}
    for subject, messages in people.items():
        for key, values in measure(subject, messages).items():
            out.setdefault(key, []).extend(values)
    return out


def _agreement(people, solved) -> dict:
    out = {}
    for solver in SOLVERS + ("mediapipe",):
        if solver == "mediapipe":
            angles = _pooled(people, lambda _, messages: mediapipe_agreement(messages))
        else:
            angles = _pooled(people, lambda subject, messages: agreement(messages, solved[solver][subject]))
        out[solver] = {**{s: _stats(angles.get(s, [])) for s in SEGMENTS},
                       **{g: _stats(sum((angles.get(s, []) for s in segs), [])) for g, segs in GROUPS.items()}}
    return out


def _worst(steps: dict) -> dict:
    per = {name: _stats(v) for name, v in steps.items() if v}
    if not per:  # nothing in the picture (the astronaut's limbs, for MediaPipe's own segments)
        return {"bones": {}, "p95": math.nan, "p95_bone": "none in view", "max": math.nan, "max_bone": "none in view"}
    worst95 = max(per, key=lambda b: per[b]["p95"])
    worst = max(per, key=lambda b: per[b]["max"])
    return {"bones": per, "p95": per[worst95]["p95"], "p95_bone": worst95, "max": per[worst]["max"],
            "max_bone": worst}


def _stillness(people, solved) -> dict:
    steps = {solver: _pooled(people, lambda subject, messages: stillness(
        messages, solved[solver][subject], READ_BONES if solver == "ours" else KALIDOKIT_DRIVES))
        for solver in SOLVERS}
    out = {"ours": _worst({b: v for b, v in steps["ours"].items() if b in MAJOR_BONES}),
           "ours_all": _worst(steps["ours"]), "kalidokit": _worst(steps["kalidokit"])}
    out["mediapipe"] = _worst(_pooled(people, lambda _, messages: mediapipe_stillness(messages)))
    return out


def targets(result: dict) -> dict:
    out = {}
    for name, by in result["agreement"].items():
        for group, (mean_max, p90_max) in AGREEMENT_TARGETS.items():
            o, k = by["ours"][group], by["kalidokit"][group]
            if not o["n"]:
                continue
            out[f"{name}: {group} mean <= {mean_max:g} deg"] = [o["mean"], o["mean"] <= mean_max]
            out[f"{name}: {group} p90 <= {p90_max:g} deg"] = [o["p90"], o["p90"] <= p90_max]
            share = max(o["mean"] / k["mean"], o["p90"] / k["p90"])
            out[f"{name}: {group} mean and p90 <= half of KalidoKit's"] = [share, share <= KALIDOKIT_SHARE]
    p95_max, max_max = STILLNESS_TARGETS
    for name, by in result["stillness"].items():
        for key, bones in (("ours", "every major bone's"), ("ours_all", "with the hands and feet too, every")):
            o = by[key]
            out[f"{name}: {bones} p95 step <= {p95_max:g} deg"] = [o["p95"], o["p95"] <= p95_max]
            out[f"{name}: {bones} largest step <= {max_max:g} deg"] = [o["max"], o["max"] <= max_max]
    return out


def _f(x, digits=1) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x:.{digits}f}"


def markdown(result: dict) -> str:
    lines = ["**Pose agreement**: the angle between the avatar's limb segment and the person's (MediaPipe's world "
             "landmarks), each in its own upper torso's frame, over the results where the segment is in the "
             "picture; degrees, mean / 90th percentile.", "",
             "| footage | segment | results | ours | KalidoKit's Pose.solve (its VRM demo) | MediaPipe against its "
             "own lag-free 3-result mean |", "| --- | --- | --- | --- | --- | --- |"]
    for name, by in result["agreement"].items():
        for row in list(GROUPS) + list(SEGMENTS):
            o, k, m = by["ours"][row], by["kalidokit"][row], by["mediapipe"][row]
            if not o["n"]:
                continue
            label = f"**{row}**" if row in GROUPS else row
            lines.append(f"| {name} | {label} | {o['n']} | {_f(o['mean'])} / {_f(o['p90'])} | "
                         f"{_f(k['mean'])} / {_f(k['p90'])} | {_f(m['mean'])} / {_f(m['p90'])} |")
    lines += ["", "**Stillness**: a photo held still (15 fps, a camera's noise); each bone's rotation in the "
              "avatar's world between readings 0.4 s apart, after the first second; degrees, the worst bone's "
              "95th percentile / the largest step (which bone). Major bones: hips, spine, chest, neck, head, "
              "upper and lower arms and legs (KalidoKit's demo drives those but the neck and head).", "",
              "| still photo | ours, major bones | ours, hands and feet too | KalidoKit's Pose.solve (its VRM demo) | "
              "MediaPipe's own segments (in the person's torso frame) |", "| --- | --- | --- | --- | --- |"]
    for name, by in result["stillness"].items():
        lines.append(f"| {name} | " + " | ".join(
            f"{_f(s['p95'], 1)} ({s['p95_bone']}) / {_f(s['max'], 1)} ({s['max_bone']})"
            for s in (by["ours"], by["ours_all"], by["kalidokit"], by["mediapipe"])) + " |")
    lines += ["", "| target | value | met |", "| --- | --- | --- |"]
    for label, (value, ok) in result["targets"].items():
        lines.append(f"| {label} | {_f(value, 2)} | {'yes' if ok else '**no**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    from live2d_pose.bench import fidelity_report

    parser = argparse.ArgumentParser(prog="python -m live2d_pose.bench.fidelity_body", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", default=",".join(inputs.FIGURE_INPUTS), help=f"comma list of {', '.join(inputs.INPUTS)}")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    parser.add_argument("--fresh", action="store_true", help="record the fixtures again (MediaPipe)")
    parser.add_argument("--update-docs", action="store_true", help="write the tables into docs/viewer.md and README.md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    names = [n.strip() for n in args.inputs.split(",") if n.strip()]
    unknown = [n for n in names if n not in inputs.INPUTS]
    if unknown:
        parser.error(f"unknown input(s) {unknown}; known: {', '.join(inputs.INPUTS)}")
    result = evaluate(names, fresh=args.fresh)
    table = markdown(result)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "body.json").write_text(json.dumps(result, indent=1))
    (args.out / "body.md").write_text(table)
    if args.update_docs:
        for path in DOCS:
            fidelity_report.update_docs(path, DOCS_BEGIN, DOCS_END, table)
    print(table)
    met = sum(ok for _, ok in result["targets"].values())
    log.info("body fidelity: %d/%d targets met; results in %s", met, len(result["targets"]), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
