// motion.js: what the page holds between the gateway's motion messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseMessage } from "../src/protocol.js";
import { MotionHolder } from "../src/motion.js";
import { NEUTRAL, REST } from "../src/contract.js";
import { angleBetween } from "../src/quat.js";
import { lastFull, motionMessages } from "./helpers.js";

const messages = motionMessages().map((m) => parseMessage(m));

test("the deltas add up to what the gateway's full message of the last update says", () => {
  const holder = new MotionHolder();
  for (const [k, msg] of messages.entries()) assert.ok(holder.apply(msg), `message ${k}`);
  const full = new MotionHolder();
  full.apply(parseMessage(lastFull()));
  assert.deepEqual(holder.state, full.state);
  assert.deepEqual(holder.live2d, full.live2d);
  assert.deepEqual([holder.seq, holder.times, holder.headPosition], [full.seq, full.times, full.headPosition]);
  assert.ok(holder.state.seen.face && holder.tracking);
  // the thumbs-up, mirrored: her right arm held out is the avatar's left; her left arm is out of the picture
  assert.deepEqual([holder.state.parts.head, holder.state.parts.leftLowerArm, holder.state.parts.rightLowerArm], [1, 1, 0]);
  assert.equal(holder.state.hipsPosition, null, "she is seen from the waist up: the body is never placed");
});

test("a delta without its full message is not applied; a full message of another stream starts afresh", () => {
  const holder = new MotionHolder();
  assert.equal(holder.apply(messages[1]), false, "no base yet");
  holder.apply(messages[0]);
  assert.equal(holder.apply({ ...messages[1], stream: "other" }), false, "another stream's delta");
  for (const msg of messages.slice(1, 60)) holder.apply(msg);
  assert.ok(angleBetween(holder.state.bones.leftUpperArm, REST.leftUpperArm) > 0.5, "mirrored: the raised arm is the left");
  holder.apply({ ...messages[0], stream: "other", bones: { neck: [0, 0, 0, 1] } });
  assert.deepEqual(holder.state.bones.leftUpperArm, [...REST.leftUpperArm], "a bone the new full message lacks is at rest");
  assert.equal(holder.stream, "other");
});

test("with the gateway out of reach the page eases to rest on its own, whatever the frame rate", () => {
  const eased = (dt) => {
    const holder = new MotionHolder();
    for (const msg of messages.slice(0, 60)) holder.apply(msg);
    for (let t = 0; t < 3000; t += dt) holder.easeToRest(dt);
    return holder;
  };
  for (const dt of [1000 / 30, 1000 / 144]) {
    const holder = eased(dt);
    assert.ok(angleBetween(holder.state.bones.leftUpperArm, REST.leftUpperArm) < 0.01);
    assert.ok(Math.abs(holder.live2d.ParamAngleX - NEUTRAL.ParamAngleX) < 0.01);
    assert.equal(holder.tracking, false);
  }
  const a = eased(1000 / 30).state.bones.leftUpperArm;
  const b = eased(1000 / 144).state.bones.leftUpperArm;
  assert.ok(angleBetween(a, b) < 1e-3, "the same after the same time at 30 and 144 Hz");
});
