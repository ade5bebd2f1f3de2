// The Khronos glTF validator (npm gltf-validator) on one file; prints its report as JSON.
//   node test/readers/validate-gltf.mjs FILE.vrma
// tests/browser/test_recording_readers.py runs it on the project's .vrma files.
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import validator from "gltf-validator";

const file = process.argv[2];
const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), {
  uri: basename(file),
  format: "glb",
  maxIssues: 100,
});
console.log(JSON.stringify(report));
