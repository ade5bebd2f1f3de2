// Bundle src/ into dist/ with esbuild. ESM + code splitting, so the Live2D
// module (PixiJS + pixi-live2d-display) and the VRM module (three.js +
// three-vrm) are chunks of their own, fetched only when such an avatar is
// shown. Also writes the built-in VRM avatar (tools/build-vrm.mjs).
import * as esbuild from "esbuild";
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { buildBuiltinVrm } from "./tools/build-vrm.mjs";

const watch = process.argv.includes("--watch");
// --no-sourcemap: the container image leaves the maps out (7 MB nobody reads there)
const sourcemap = !process.argv.includes("--no-sourcemap");
const outdir = "dist";

await rm(outdir, { recursive: true, force: true });
await mkdir(outdir, { recursive: true });
await Promise.all(["index.html", "style.css"].map((f) => copyFile(`src/${f}`, `${outdir}/${f}`)));
// The built-in 3D avatar (?avatar=vrm): made here, the same bytes every build.
await writeFile(`${outdir}/builtin-avatar.vrm`, buildBuiltinVrm());

const options = {
  entryPoints: ["src/main.js"],
  bundle: true,
  format: "esm",
  splitting: true,
  outdir,
  entryNames: "[name]",
  chunkNames: "chunks/[name]-[hash]",
  minify: !watch,
  sourcemap,
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
