// The streams the gateway has live (GET /streams), and what the page says when
// the stream it was asked for is not one of them.

/** The live streams' names, or null when the gateway's /streams cannot be read. */
export async function liveStreams({ fetchImpl = globalThis.fetch, url = "streams" } = {}) {
  try {
    const res = await fetchImpl(url, { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const list = await res.json();
    return Array.isArray(list) ? list.map((s) => s?.stream).filter((s) => typeof s === "string") : null;
  } catch (err) {
    console.warn(`cannot read the live streams (${err.message})`);
    return null;
  }
}

const quoted = (names) => names.map((s) => `"${s}"`).join(", ");

/**
 * What to say when the page was asked for stream `wanted` and `live` lists the live ones:
 * "" when it is live (or none was asked for, or the list is unknown).
 */
export function streamNote(wanted, live, { hint = "" } = {}) {
  if (!wanted || !live || live.includes(wanted)) return "";
  const others = live.length ? `Live now: ${quoted(live)}${hint ? ` — ${hint}` : ""}.` : "No camera is streaming now.";
  return `No stream "${wanted}" is live. ${others}`;
}
