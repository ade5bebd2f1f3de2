"""The server rig agrees with the viewer's JavaScript SOLVE on the same recordings.

docs/rig.md is the contract. node runs the viewer's solve
(web/tools/solve-dump.mjs: one unfiltered, unmirrored state per result) on
every recording in web/test/fixtures/, and live2d_pose.rig.solve runs on the
same messages. The tolerances are docs/rig.md's "Agreement": the same bone
set, each bone within 0.1 degrees; the same expressions within 1e-4; gaze
within 0.01 degrees; blendshapes and "seen" equal. So VSeeFace, VTube Studio
and the browser show the same motion.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from live2d_pose import wire
from live2d_pose.outputs.source import parse_result
from live2d_pose.rig import quat
from live2d_pose.rig.solve import solve
from live2d_pose.testing import record

REPO = Path(__file__).resolve().parents[1]
WEB = REPO / "web"
SOLVE_DUMP = WEB / "tools" / "solve-dump.mjs"
RECORDINGS = sorted((WEB / "test" / "fixtures").glob("*.msgpack"))
BONE_DEGREES = 0.1
EXPRESSION = 1e-4
GAZE_DEGREES = 0.01

pytestmark = [
    pytest.mark.skipif(shutil.which("node") is None, reason="node is needed to run the viewer's solve"),
    pytest.mark.skipif(not SOLVE_DUMP.exists(), reason="the viewer's solve (web/tools/solve-dump.mjs) "
                                                       "is not in this tree"),
]


def js_states(recording: Path) -> list[dict]:
    out = subprocess.run(["node", str(SOLVE_DUMP.relative_to(WEB)), str(recording)], cwd=WEB,
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)["states"]


def py_states(recording: Path) -> list[dict]:
    states = []
    for result in record.load(recording)["results"]:
        t = parse_result(wire.pack(result))
        states.append(solve(t.faces[0] if t.faces else None, t.poses[0] if t.poses else None, t.hands or [],
                            t.ts.get("ingest", 0.0)).to_dict())
    return states


@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_python_solve_agrees_with_the_viewers(recording):
    expected, actual = js_states(recording), py_states(recording)
    assert len(expected) == len(actual) > 0
    worst = {"bone": 0.0, "expression": 0.0, "gaze": 0.0}
    bones_compared = 0
    for index, (js, py) in enumerate(zip(expected, actual)):
        where = f"{recording.name} result {index}"
        assert py["seen"] == js["seen"], where
        assert set(py["bones"]) == set(js["bones"]), (where, set(py["bones"]) ^ set(js["bones"]))
        for name, q in py["bones"].items():
            worst["bone"] = max(worst["bone"], math.degrees(quat.angle_between(q, js["bones"][name])))
            bones_compared += 1
        assert set(py["expressions"]) == set(js["expressions"]), where
        for name, value in py["expressions"].items():
            worst["expression"] = max(worst["expression"], abs(value - js["expressions"][name]))
        assert (py["gaze"] is None) == (js["gaze"] is None), where
        if py["gaze"]:
            worst["gaze"] = max(worst["gaze"], *(abs(py["gaze"][k] - js["gaze"][k]) for k in ("yaw", "pitch")))
        if js["blendshapes"] is None:
            assert py["blendshapes"] is None, where
        else:
            assert py["blendshapes"] == pytest.approx(js["blendshapes"], abs=0), where
        assert py["t"] == js["t"], where
    assert worst["bone"] <= BONE_DEGREES and worst["expression"] <= EXPRESSION and worst["gaze"] <= GAZE_DEGREES, worst
    assert bones_compared > 1000  # the recordings carry arms and fingers, not only heads


# The viewer's whole chain for one recording, as main.js runs it per result: SOLVE, the state's
# One Euro smoothing (state-filter.js), rig.js's face parameters smoothed per result (filter.js's
# RigFilter at the result's time), then retarget-live2d.js's head and body angles over them.
# rig.js takes KalidoKit's head.y only to stabilise the eyes when the head is turned far; both
# sides are given the facial matrix's yaw there (live2d.eye_stabilizer_yaw), as the server does.
VIEWER_CHAIN = r"""
import { readFileSync } from "node:fs";
import { decode, encode } from "@msgpack/msgpack";
import { parseMessage } from "./src/protocol.js";
import { solve } from "./src/solve.js";
import { StateFilter } from "./src/state-filter.js";
import { rigFromSolved, NEUTRAL } from "./src/rig.js";
import { RigFilter } from "./src/filter.js";
import { live2dParams } from "./src/retarget-live2d.js";
import { multiply, toYawPitchRoll, IDENTITY, DEG } from "./src/quat.js";
const [path, mirrorArg] = process.argv.slice(1);
const mirror = mirrorArg === "mirror";
const states = new StateFilter();
const faceFilter = new RigFilter();
let face = { ...NEUTRAL };
const out = [];
for (const r of decode(readFileSync(path)).results) {
  const msg = parseMessage(encode(r));
  const t = msg.ts.ingest;
  const state = solve({ face: msg.faces?.[0] ?? null, pose: msg.poses?.[0] ?? null, hands: msg.hands ?? [], t });
  const smoothed = states.filter(state, t);
  if (msg.faces?.[0]?.blendshapes) {
    const head = state.bones.neck ? multiply(state.bones.neck, state.bones.head) : IDENTITY;
    const kalido = { head: { y: -toYawPitchRoll(head).yaw * DEG } };
    face = faceFilter.filter(rigFromSolved(kalido, msg.faces[0].blendshapes, { mirror }), t);
  }
  out.push({ smoothed, params: live2dParams(face, smoothed, { mirror }) });
}
process.stdout.write(JSON.stringify(out));
"""
ANGLE_PARAMS = tuple(f"Param{kind}Angle{axis}" for kind in ("", "Body") for axis in "XYZ")


def js_chain(recording: Path, mirror: bool) -> list[dict]:
    out = subprocess.run(["node", "--input-type=module", "-e", VIEWER_CHAIN, str(recording),
                          "mirror" if mirror else "plain"], cwd=WEB, capture_output=True, text=True, check=True,
                         timeout=120)
    return json.loads(out.stdout)


@pytest.mark.parametrize("mirror", [True, False], ids=["mirrored", "unmirrored"])
@pytest.mark.parametrize("recording", RECORDINGS, ids=[r.name for r in RECORDINGS])
def test_smoothing_and_live2d_parameters_agree_with_the_viewers(recording, mirror):
    """What VTube Studio gets is what the page's Live2D avatar shows: the same smoothed state and
    the same Live2D parameters (angles within 0.1 degrees, the rest within 1e-4)."""
    from live2d_pose.rig import Rig
    from live2d_pose.rig.live2d import live2d_params

    expected = js_chain(recording, mirror)
    rig = Rig(mirror=mirror)
    worst = {"bone": 0.0, "value": 0.0, "angle": 0.0}
    for index, (js, result) in enumerate(zip(expected, record.load(recording)["results"])):
        frame = rig.solve(parse_result(wire.pack(result), received_ms=result["ts"]["ingest"]))
        smoothed = frame.smoothed.to_dict()
        assert set(smoothed["bones"]) == set(js["smoothed"]["bones"]), index
        for name, q in smoothed["bones"].items():
            worst["bone"] = max(worst["bone"], math.degrees(quat.angle_between(q, js["smoothed"]["bones"][name])))
        for group in ("expressions", "blendshapes", "gaze"):
            for name, value in smoothed[group].items():
                limit = "angle" if group == "gaze" else "value"
                worst[limit] = max(worst[limit], abs(value - js["smoothed"][group][name]))
        params = live2d_params(frame.face_params, frame.smoothed, mirror)
        assert set(params) == set(js["params"]), index
        for name, value in params.items():
            limit = "angle" if name in ANGLE_PARAMS else "value"
            worst[limit] = max(worst[limit], abs(value - js["params"][name]))
    assert worst["bone"] <= BONE_DEGREES and worst["angle"] <= BONE_DEGREES and worst["value"] <= EXPRESSION, worst
