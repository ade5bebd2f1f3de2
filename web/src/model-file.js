// Model files: fetching one with a failure a person can act on (a server that
// refuses this page for CORS, a file that is not a model), and the files a
// person drops onto the page. The messages go into the page's note.

/** What a file is, from its first bytes, when it is not glTF. */
const SIGNATURES = [
  [[0x89, 0x50, 0x4e, 0x47], "a PNG image"],
  [[0xff, 0xd8, 0xff], "a JPEG image"],
  [[0x47, 0x49, 0x46, 0x38], "a GIF image"],
  [[0x52, 0x49, 0x46, 0x46], "a RIFF file (WAV audio or WebP image)"],
  [[0x25, 0x50, 0x44, 0x46], "a PDF document"],
  [[0x50, 0x4b, 0x03, 0x04], "a zip archive (a zipped model? unzip it and give its folder: --model ./folder)"],
  [[0x1f, 0x8b], "a gzip archive"],
];

const startsWith = (bytes, prefix) => prefix.every((b, i) => bytes[i] === b);

/**
 * Undefined when `buffer` can be glTF (binary: it starts with "glTF"; JSON: with "{"),
 * else why not, in words, never the file's bytes.
 */
export function notGltf(buffer) {
  const bytes = new Uint8Array(buffer, 0, Math.min(buffer.byteLength, 64));
  if (bytes.length === 0) return "the file is empty";
  if (startsWith(bytes, [0x67, 0x6c, 0x54, 0x46])) return undefined; // "glTF": binary glTF, as .vrm is
  const text = String.fromCharCode(...bytes).trimStart();
  if (text.startsWith("{")) return undefined; // JSON glTF
  if (/^<(!doctype|html|head|body)/i.test(text))
    return "it is a web page, not a model file (a wrong URL, or a login or error page?)";
  if (text.startsWith("<")) return "it is an XML or HTML file, not a model file";
  const known = SIGNATURES.find(([magic]) => startsWith(bytes, magic));
  if (known) return `it is ${known[1]}, not a model file`;
  return 'it is not a glTF file (a .vrm starts with the bytes "glTF")';
}

/**
 * The bytes at `url`, or an Error saying what went wrong in words: HTTP status, a server
 * that answered but refuses to share the file with this page (CORS), one that did not answer.
 */
export async function fetchModel(url, { fetchImpl = globalThis.fetch, pageHref = globalThis.location?.href } = {}) {
  let res;
  try {
    res = await fetchImpl(url);
  } catch (err) {
    throw new Error(await whyUnreadable(url, err, { fetchImpl, pageHref }));
  }
  if (!res.ok) throw new Error(`the server answered HTTP ${res.status}${res.status === 404 ? " (no such file)" : ""}`);
  return res.arrayBuffer();
}

/**
 * Why a fetch of `url` threw. A browser says only "Failed to fetch" both for a server
 * that is down and for one that answered without CORS headers; asking again in
 * no-cors mode tells them apart (an opaque answer means it answered).
 */
export async function whyUnreadable(
  url,
  err,
  { fetchImpl = globalThis.fetch, pageHref = globalThis.location?.href } = {},
) {
  let target;
  try {
    target = new URL(url, pageHref);
  } catch {
    return `not a URL: ${url}`;
  }
  if (target.protocol === "blob:" || !pageHref || target.origin === new URL(pageHref).origin) {
    return `could not fetch it (${err?.message || err})`;
  }
  try {
    await fetchImpl(target.href, { mode: "no-cors" });
  } catch {
    return `${target.host} did not answer`;
  }
  const file = decodeURIComponent(target.pathname.split("/").pop() || "model");
  return (
    `${target.host} refused to share it with this page (CORS). Serve the file from the gateway instead: ` +
    `make run ARGS="--model ./${file}"; or make ${target.host} send Access-Control-Allow-Origin`
  );
}

const AVATAR_FILE = /\.vrm$/i;

/**
 * A file dropped onto the page (or opened in the panel): {url, name} to load as a VRM, or
 * an Error saying why not. A Live2D model is a folder of files, which a page cannot be
 * given by a drop; the gateway serves one (--model).
 */
export function avatarFile(file, createUrl = (f) => URL.createObjectURL(f)) {
  const name = file?.name ?? "";
  if (AVATAR_FILE.test(name)) return { url: createUrl(file), name };
  if (/\.vrma$/i.test(name)) return new Error(`${name} is an animation (VRMA), not an avatar: drop a .vrm file`);
  if (/\.(model3\.json|moc3)$/i.test(name)) {
    return new Error(
      `${name} is part of a Live2D model, a folder of files: serve the folder with make run ARGS="--model ./folder"`,
    );
  }
  return new Error(`${name || "that"} is not an avatar: drop a .vrm file`);
}
