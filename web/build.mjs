// Bundle src/ into dist/ with esbuild. ESM + code splitting, so the Live2D
// module (PixiJS + pixi-live2d-display) is its own chunk, fetched only when a
// model is configured and Cubism Core has loaded.
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm } from "node:fs/promises";

const watch = process.argv.includes("--watch");
const outdir = "dist";

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await Promise.all(["index.html", "style.css"].map((f) => copyFile(`src/${f}`, `${outdir}/${f}`)));

const options = {
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  splitting: true,
  outdir,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  minify: !watch,
  sourcemap: true,
  target: ["es2020", "chrome90"], // OBS's browser source is Chromium (CEF)
  legalComments: "linked",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
