import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { avatarFile, fetchModel, notGltf } from "../src/model-file.js";
import { isVrm, plan } from "../src/avatars.js";
import { buildBuiltinVrm } from "../tools/build-vrm.mjs";

const bytes = (...values) => new Uint8Array(values).buffer;
const text = (s) => new TextEncoder().encode(s).buffer;

test("a glTF file passes: binary (every .vrm) and JSON", () => {
  assert.equal(notGltf(new Uint8Array(buildBuiltinVrm()).buffer), undefined);
  assert.equal(notGltf(readFileSync(new URL("./fixtures/vrm/sphere.vrm", import.meta.url)).buffer), undefined);
  assert.equal(notGltf(text('  {"asset": {"version": "2.0"}}')), undefined);
});

test("any other file is named in words, never shown as its bytes", () => {
  const png = bytes(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0xff, 0xfe);
  const cases = [
    [png, /a PNG image, not a model file/],
    [bytes(0xff, 0xd8, 0xff, 0xe0), /a JPEG image/],
    [bytes(0x50, 0x4b, 0x03, 0x04), /zip archive .*--model \.\/folder/],
    [text("<!DOCTYPE html><html>"), /a web page/],
    [text("<?xml version='1.0'?>"), /XML or HTML/],
    [bytes(), /empty/],
    [bytes(0x00, 0x01, 0xfe, 0xfd), /not a glTF file/],
  ];
  for (const [buffer, expected] of cases) {
    const why = notGltf(buffer);
    assert.match(why, expected);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the text must hold no control character
    assert.doesNotMatch(why, /[\ufffd\u0000-\u001f]|Unexpected token|JSON/, why);
  }
});

/** A browser's fetch as far as the page can tell: a cross-origin server either answers
 * with CORS headers, answers without them (the read fails, an opaque no-cors answer
 * succeeds), or does not answer (both fail). */
function browserFetch({ answers = true, cors = true, status = 200 } = {}) {
  return async (_url, init = {}) => {
    if (!answers) throw new TypeError("Failed to fetch");
    if (init.mode === "no-cors") return { ok: false, status: 0, type: "opaque" };
    if (!cors) throw new TypeError("Failed to fetch");
    return { ok: status < 400, status, arrayBuffer: async () => bytes(0x67, 0x6c, 0x54, 0x46) };
  };
}

const PAGE = "http://localhost:8080/";

test("a remote model refused for CORS says CORS, and how to serve it from the gateway instead", async () => {
  const url = "http://192.168.1.5:8000/my%20avatar.vrm";
  await assert.rejects(fetchModel(url, { fetchImpl: browserFetch({ cors: false }), pageHref: PAGE }), (err) => {
    assert.match(err.message, /192\.168\.1\.5:8000 refused to share it with this page \(CORS\)/);
    assert.match(err.message, /make run ARGS="--model \.\/my avatar\.vrm"/);
    assert.match(err.message, /Access-Control-Allow-Origin/);
    return true;
  });
  await assert.rejects(
    fetchModel(url, { fetchImpl: browserFetch({ answers: false }), pageHref: PAGE }),
    /192\.168\.1\.5:8000 did not answer/,
  );
  await assert.rejects(
    fetchModel("models/x.vrm", { fetchImpl: browserFetch({ status: 404 }), pageHref: PAGE }),
    /HTTP 404 \(no such file\)/,
  );
  // the page's own server: never a CORS matter
  await assert.rejects(
    fetchModel("models/x.vrm", { fetchImpl: browserFetch({ cors: false }), pageHref: PAGE }),
    (err) => !/CORS/.test(err.message),
  );
  assert.equal((await fetchModel(url, { fetchImpl: browserFetch(), pageHref: PAGE })).byteLength, 4);
});

test("a dropped .vrm is an avatar (named by its file name); other files say why not", () => {
  const picked = avatarFile({ name: "Me.VRM" }, () => "blob:http://localhost/1234");
  assert.deepEqual(picked, { url: "blob:http://localhost/1234", name: "Me.VRM" });
  const options = { model: picked.url, modelName: picked.name, avatar: "", framing: "auto" };
  assert.ok(isVrm(options));
  assert.equal(plan(options)[0].label, "VRM Me.VRM");
  assert.match(avatarFile({ name: "wave.vrma" }).message, /animation \(VRMA\), not an avatar/);
  assert.match(avatarFile({ name: "hiyori.model3.json" }).message, /Live2D model, a folder .*--model \.\/folder/);
  assert.match(avatarFile({ name: "photo.png" }).message, /photo\.png is not an avatar: drop a \.vrm file/);
});
