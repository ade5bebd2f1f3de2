import { test } from "node:test";
import assert from "node:assert/strict";
import { liveStreams, streamNote } from "../src/streams.js";

test("a stream asked for and not live: said, with the live ones", () => {
  assert.equal(
    streamNote("jetbot", ["webcam", "replay"], { hint: "choose one in the settings (key s)" }),
    'No stream "jetbot" is live. Live now: "webcam", "replay" — choose one in the settings (key s).',
  );
  assert.equal(streamNote("jetbot", []), 'No stream "jetbot" is live. No camera is streaming now.');
  // nothing to say: it is live, none was asked for, or the gateway's list is unknown
  assert.equal(streamNote("jetbot", ["jetbot"]), "");
  assert.equal(streamNote("", ["webcam"]), "");
  assert.equal(streamNote("jetbot", null), "");
});

test("the live streams come from the gateway's /streams; unreadable is null, not 'none'", async () => {
  const answer =
    (body, status = 200) =>
    async () => ({ ok: status === 200, status, json: async () => body });
  assert.deepEqual(await liveStreams({ fetchImpl: answer([{ stream: "a", fps: 30 }, { stream: "b" }]) }), ["a", "b"]);
  assert.equal(await liveStreams({ fetchImpl: answer(null, 503) }), null);
  assert.equal(
    await liveStreams({
      fetchImpl: async () => {
        throw new TypeError("Failed to fetch");
      },
    }),
    null,
  );
});
