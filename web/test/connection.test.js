import { test } from "node:test";
import assert from "node:assert/strict";
import { Connection } from "../src/connection.js";

// A fake WebSocket the test drives by hand.
class FakeSocket {
  static all = [];
  constructor(url) {
    this.url = url;
    FakeSocket.all.push(this);
  }
  close() {}
}

test("reconnects after a close and resets the backoff once a socket opens", async (t) => {
  t.mock.timers.enable({ apis: ["setTimeout"] });
  FakeSocket.all = [];
  const states = [];
  const got = [];
  const c = new Connection("ws://x/ws", {
    WebSocketImpl: FakeSocket,
    onState: (s) => states.push(s),
    onMessage: (d) => got.push(d),
  });
  c.start();
  assert.equal(FakeSocket.all.length, 1);
  FakeSocket.all[0].onopen();
  FakeSocket.all[0].onmessage({ data: "hi" });
  assert.deepEqual(got, ["hi"]);
  FakeSocket.all[0].onclose({ code: 1006, reason: "" });
  assert.equal(states.at(-1), "reconnecting");
  t.mock.timers.tick(8000 * 1.2 + 1);
  assert.equal(FakeSocket.all.length, 2, "a new socket after the backoff");
  // a socket that never opens makes the next wait longer
  FakeSocket.all[1].onclose({ code: 1006, reason: "" });
  assert.equal(c.attempt, 2);
  t.mock.timers.tick(10000);
  FakeSocket.all[2].onopen();
  assert.equal(c.attempt, 0);
  assert.equal(states.at(-1), "connected");
  c.stop();
  FakeSocket.all[2].onclose({ code: 1000, reason: "" });
  t.mock.timers.tick(20000);
  assert.equal(FakeSocket.all.length, 3, "no reconnect after stop()");
});
