import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  readOptions,
  cssColor,
  DEFAULT_CONFIG,
  OPTIONS,
  pageQuery,
  queryWith,
  recall,
  remember,
  STORAGE_KEY,
} from "../src/options.js";
import { socketUrl, backoffDelay } from "../src/connection.js";

const CONFIG = {
  model: "https://example.org/m.model3.json",
  coreUrl: "https://cdn.example/core.js",
  allowCoreParam: false,
  wsPath: "/ws",
};

test("?core= is ignored (with a warning) unless the gateway allows it", () => {
  const denied = readOptions("?core=https://evil.example/x.js", CONFIG);
  assert.equal(denied.coreUrl, CONFIG.coreUrl);
  assert.equal(denied.warnings.length, 1);
  assert.match(denied.warnings[0], /core/);
  const allowed = readOptions("?core=https://mirror.example/core.js", { ...CONFIG, allowCoreParam: true });
  assert.equal(allowed.coreUrl, "https://mirror.example/core.js");
  // only a real boolean true counts, not a truthy string
  assert.equal(
    readOptions("?core=https://evil.example/x.js", { ...CONFIG, allowCoreParam: "false" }).coreUrl,
    CONFIG.coreUrl,
  );
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
  assert.equal(
    socketUrl("http://h:8080/", "/ws", { stream: "a b", token: "t&x" }),
    "ws://h:8080/ws?stream=a+b&token=t%26x",
  );
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

// ---------------------------------------------------------------- the options table

test("one table: every option is read from its query key, with its type, and a bad value keeps the default", () => {
  assert.deepEqual(
    OPTIONS.map((o) => o.name),
    ["model", "avatar", "framing", "mirror", "stream", "hud", "landmarks", "bg", "token", "obs"],
  );
  for (const row of OPTIONS) {
    for (const key of ["name", "type", "query", "label"])
      assert.ok(row[key] !== undefined && row[key] !== "", `${row.name}: ${key}`);
    assert.ok("default" in row, row.name);
  }
  const o = readOptions("?framing=FULL&avatar=vrm&obs=1", CONFIG);
  assert.equal(o.framing, "full");
  assert.equal(o.avatar, "vrm");
  assert.equal(o.obs, true);
  const bad = readOptions("?framing=legs&mirror=maybe&bg=url(x)", CONFIG);
  assert.equal(bad.framing, "auto");
  assert.equal(bad.mirror, true);
  assert.equal(bad.bg, "");
  assert.equal(bad.warnings.length, 3);
  assert.match(bad.warnings[0], /framing=legs is not one of auto, upper, full/);
});

test("the query wins over remembered choices, which win over the gateway's config and the defaults", () => {
  const remembered = { mirror: "0", framing: "upper", hud: "1", model: "models/picked.vrm" };
  const o = readOptions("?framing=full", CONFIG, { remembered });
  assert.equal(o.framing, "full"); // the query
  assert.equal(o.mirror, false); // remembered
  assert.equal(o.hud, true);
  assert.equal(o.model, "models/picked.vrm"); // remembered over config.model
  assert.equal(readOptions("?mirror=1", CONFIG, { remembered }).mirror, true);
  // a remembered value that is not one is reported and skipped
  const odd = readOptions("", CONFIG, { remembered: { framing: "sideways" } });
  assert.equal(odd.framing, "auto");
  assert.match(odd.warnings[0], /remembered framing/);
});

test("OBS (its browser source, or ?obs=1) shows exactly what its URL says: remembered choices do not apply", () => {
  const remembered = { mirror: "0", hud: "1" };
  for (const o of [
    readOptions("", CONFIG, { remembered, obsBrowser: true }),
    readOptions("?obs=1", CONFIG, { remembered }),
  ]) {
    assert.equal(o.obs, true);
    assert.equal(o.mirror, true);
    assert.equal(o.hud, false);
  }
  assert.equal(readOptions("?obs=1&mirror=0", CONFIG, { remembered }).mirror, false);
});

test("the OBS URL gives exactly these options on a fresh page, and only what differs", () => {
  const chosen = {
    ...readOptions("", CONFIG),
    mirror: false,
    framing: "upper",
    stream: "cam 1",
    bg: "#00ff00",
    hud: true,
    token: "t&x",
  };
  const query = pageQuery(chosen, CONFIG);
  assert.equal(query, "?framing=upper&mirror=0&stream=cam+1&hud=1&bg=00ff00&token=t%26x&obs=1");
  const fresh = readOptions(query, CONFIG, { remembered: { landmarks: "1", avatar: "vrm" } });
  for (const row of OPTIONS) assert.deepEqual(fresh[row.name], row.name === "obs" ? true : chosen[row.name], row.name);
  // the defaults, and the gateway's own model, need no parameter
  assert.equal(pageQuery(readOptions("", CONFIG), CONFIG), "?obs=1");
  assert.equal(pageQuery({ ...readOptions("", CONFIG), model: "" }, CONFIG), "?model=&obs=1");
});

test("a choice made in the panel rewrites the page's query where it names that option", () => {
  assert.equal(queryWith("?mirror=0&hud=1", "mirror", true, CONFIG), "?hud=1");
  assert.equal(queryWith("?mirror=1", "mirror", false, CONFIG), "?mirror=0");
  assert.equal(queryWith("?hud=1", "framing", "full", CONFIG), "?hud=1"); // not in the query: remembered instead
  assert.equal(queryWith("?stream=a", "stream", "", CONFIG), "");
});

class MemoryStorage {
  constructor() {
    this.items = {};
  }
  getItem(k) {
    return this.items[k] ?? null;
  }
  setItem(k, v) {
    this.items[k] = String(v);
  }
}

test("remembered choices: stored per option, back to the page's own value forgets it, never a secret", () => {
  const storage = new MemoryStorage();
  remember(storage, "mirror", false, CONFIG);
  remember(storage, "framing", "full", CONFIG);
  remember(storage, "token", "s3cret", CONFIG);
  remember(storage, "obs", true, CONFIG);
  assert.deepEqual(recall(storage, CONFIG), { mirror: "0", framing: "full" });
  remember(storage, "framing", "auto", CONFIG);
  assert.deepEqual(recall(storage, CONFIG), { mirror: "0" });
  assert.ok(!JSON.stringify(storage.items).includes("s3cret"));
  // garbage in storage is no choice at all
  storage.setItem(STORAGE_KEY, "{not json");
  assert.deepEqual(recall(storage, CONFIG), {});
  assert.deepEqual(recall(null, CONFIG), {});
});

test("a model picked in the panel gives way when the gateway's --model changes", () => {
  const storage = new MemoryStorage();
  remember(storage, "model", "models/picked.vrm", CONFIG);
  assert.equal(readOptions("", CONFIG, { remembered: recall(storage, CONFIG) }).model, "models/picked.vrm");
  const restarted = { ...CONFIG, model: "model/new.vrm" };
  assert.equal(readOptions("", restarted, { remembered: recall(storage, restarted) }).model, "model/new.vrm");
});

test("docs/viewer.md's query table lists exactly the options' query keys (and ?core=)", () => {
  const doc = readFileSync(new URL("../../docs/viewer.md", import.meta.url), "utf8");
  const section = doc.slice(
    doc.indexOf("## Query parameters"),
    doc.indexOf("\n## ", doc.indexOf("## Query parameters") + 5),
  );
  const documented = [...section.matchAll(/^\| `([a-z]+)=/gm)].map((m) => m[1]).sort();
  assert.deepEqual(documented, [...OPTIONS.map((o) => o.query), "core"].sort());
});
