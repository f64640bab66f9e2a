// Loads a module of src/ for a unit test: bundled by esbuild in memory, imported as ESM.
import * as esbuild from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");

export async function load(entry) {
  const out = await esbuild.build({ absWorkingDir: root, entryPoints: [entry], bundle: true, format: "esm", write: false, logLevel: "warning" });
  return import("data:text/javascript;base64," + Buffer.from(out.outputFiles[0].text).toString("base64"));
}
