import { test } from "node:test";
import assert from "node:assert/strict";
import { TakeRecorder, clock, takeUrl } from "../src/record.js";

const answer = (status, body) => ({
  ok: status < 300,
  status,
  json: async () => body,
  text: async () => (typeof body === "string" ? body : JSON.stringify(body)),
});

test("take URLs are relative to the page, carry the token, and drop the page's own query", () => {
  assert.equal(
    takeUrl("http://h:8080/viewer/?stream=a&token=t#x", "record", { stream: "a", token: "t" }),
    "http://h:8080/viewer/record?stream=a&token=t",
  );
  assert.equal(takeUrl("http://h:8080/", "takes/ab/c.vrma", { token: "" }), "http://h:8080/takes/ab/c.vrma");
  assert.equal(clock(62500), "1:02");
});

test("record, then stop: the gateway's take and its files, with the token on each link", async () => {
  const posted = [];
  let t = 1000;
  const replies = [
    answer(201, { take: "abc", stream: "cam" }),
    answer(200, { take: "abc", files: [{ name: "cam.vrma", url: "takes/abc/cam.vrma", bytes: 5 }], error: null }),
  ];
  const r = new TakeRecorder({
    pageHref: "http://h/?token=s",
    token: "s",
    stream: () => "cam",
    now: () => t,
    request: async (url) => {
      posted.push(url);
      return replies.shift();
    },
  });
  await r.toggle();
  assert.equal(r.state, "recording");
  t += 12000;
  assert.equal(clock(r.elapsed()), "0:12");
  const done = await r.toggle();
  assert.equal(r.state, "idle");
  assert.deepEqual(posted, ["http://h/record?stream=cam&token=s", "http://h/record/stop?take=abc&token=s"]);
  assert.equal(done.files.length, 1);
  assert.equal(r.files[0].url, "http://h/takes/abc/cam.vrma?token=s");
  assert.equal(r.error, "");
});

test("a refusal is said, and the page goes back to idle", async () => {
  const r = new TakeRecorder({
    pageHref: "http://h/",
    stream: () => "cam",
    request: async () => answer(429, "2 take(s) are being recorded already (--max-takes)\n"),
  });
  assert.equal(await r.toggle(), null);
  assert.equal(r.state, "idle");
  assert.match(r.error, /--max-takes/);
  const none = new TakeRecorder({
    pageHref: "http://h/",
    stream: () => null,
    request: async () => assert.fail("no request"),
  });
  await none.toggle();
  assert.match(none.error, /no stream/);
  const away = new TakeRecorder({
    pageHref: "http://h/",
    stream: () => "cam",
    request: async () => {
      throw new Error("refused");
    },
  });
  await away.toggle();
  assert.match(away.error, /out of reach/);
});
