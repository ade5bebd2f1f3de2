import { test } from "node:test";
import assert from "node:assert/strict";
import { readOptions, cssColor, DEFAULT_CONFIG } from "../src/options.js";
import { socketUrl, backoffDelay } from "../src/connection.js";

const CONFIG = { model: "https://example.org/m.model3.json", coreUrl: "https://cdn.example/core.js", allowCoreParam: false, wsPath: "/ws" };

test("?core= is ignored (with a warning) unless the gateway allows it", () => {
  const denied = readOptions("?core=https://evil.example/x.js", CONFIG);
  assert.equal(denied.coreUrl, CONFIG.coreUrl);
  assert.equal(denied.warnings.length, 1);
  assert.match(denied.warnings[0], /core/);
  const allowed = readOptions("?core=https://mirror.example/core.js", { ...CONFIG, allowCoreParam: true });
  assert.equal(allowed.coreUrl, "https://mirror.example/core.js");
  // only a real boolean true counts, not a truthy string
  assert.equal(readOptions("?core=https://evil.example/x.js", { ...CONFIG, allowCoreParam: "false" }).coreUrl, CONFIG.coreUrl);
});

test("?model= overrides config.model; defaults when config is missing", () => {
  assert.equal(readOptions("?model=/models/a.model3.json", CONFIG).model, "/models/a.model3.json");
  assert.equal(readOptions("", CONFIG).model, CONFIG.model);
  const d = readOptions("", {});
  assert.equal(d.model, "");
  assert.equal(d.coreUrl, DEFAULT_CONFIG.coreUrl);
  assert.equal(d.wsPath, "ws");
});

test("flags, stream, token, background", () => {
  const o = readOptions("?stream=cam%201&token=s3cret&hud=1&landmarks&mirror=0&bg=00ff00", CONFIG);
  assert.equal(o.stream, "cam 1");
  assert.equal(o.token, "s3cret");
  assert.equal(o.hud, true);
  assert.equal(o.landmarks, true);
  assert.equal(o.mirror, false);
  assert.equal(o.bg, "#00ff00");
  const d = readOptions("", CONFIG);
  assert.equal(d.hud, false);
  assert.equal(d.mirror, true);
  assert.equal(d.bg, "");
  assert.equal(cssColor("url(x)"), "");
  assert.equal(cssColor("green"), "green");
});

test("socket URL: same host, ws/wss by page scheme, prefix kept for relative paths, query passed through", () => {
  assert.equal(socketUrl("http://h:8080/", "/ws", { stream: "a b", token: "t&x" }), "ws://h:8080/ws?stream=a+b&token=t%26x");
  // the subscription: motion mirrored by default; unmirrored, and raw landmarks, when asked
  assert.equal(socketUrl("http://h/", "/ws", { mirror: false, landmarks: true }), "ws://h/ws?mirror=0&landmarks=1");
  assert.equal(socketUrl("https://h/live/?hud=1", "ws"), "wss://h/live/ws");
  assert.equal(socketUrl("http://h:8080/index.html?x=1#frag", "/ws"), "ws://h:8080/ws");
});

test("reconnect backoff doubles and is capped", () => {
  const fixed = { random: () => 0.5 };
  assert.equal(backoffDelay(0, fixed), 500);
  assert.equal(backoffDelay(1, fixed), 1000);
  assert.equal(backoffDelay(3, fixed), 4000);
  assert.equal(backoffDelay(50, fixed), 8000);
  for (let i = 0; i < 100; i++) assert.ok(backoffDelay(10) <= 8000 * 1.2);
});

test("?framing= upper, full or auto (the default); anything else is auto with a warning", () => {
  assert.equal(readOptions("", CONFIG).framing, "auto");
  assert.equal(readOptions("?framing=FULL", CONFIG).framing, "full");
  assert.equal(readOptions("?framing=upper", CONFIG).framing, "upper");
  const bad = readOptions("?framing=legs", CONFIG);
  assert.equal(bad.framing, "auto");
  assert.match(bad.warnings[0], /framing/);
});
