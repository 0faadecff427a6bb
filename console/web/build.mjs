// Builds the console into ../dist, which is committed and embedded in the
// webhookd binary. With --check it builds in memory and fails when ../dist
// differs (CI runs it, so the committed build cannot go stale).
import * as esbuild from "esbuild";
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { gzipSync } from "node:zlib";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(here, "..", "dist");
const check = process.argv.includes("--check");
const maxScriptGzip = 150 * 1024; // the budget for all of the console's JavaScript

const result = await esbuild.build({
  entryPoints: { app: path.join(here, "src/main.jsx"), style: path.join(here, "src/style.css") },
  bundle: true,
  minify: true,
  format: "esm",
  target: ["es2020"],
  jsx: "automatic",
  jsxImportSource: "preact",
  legalComments: "none",
  charset: "utf8",
  outdir: dist,
  write: false,
  logLevel: "warning",
});

const files = new Map(result.outputFiles.map((f) => [path.basename(f.path), Buffer.from(f.contents)]));
files.set("index.html", await readFile(path.join(here, "src/index.html")));
files.set("favicon.svg", await readFile(path.join(here, "src/favicon.svg")));

const gz = gzipSync(files.get("app.js"), { level: 9 }).length;
console.log(`app.js: ${files.get("app.js").length} bytes, ${gz} bytes gzipped (budget ${maxScriptGzip})`);
if (gz > maxScriptGzip) {
  console.error("the console's JavaScript is over its budget");
  process.exit(1);
}

if (check) {
  const stale = [];
  for (const [name, data] of files) {
    const committed = await readFile(path.join(dist, name)).catch(() => null);
    if (!committed || !committed.equals(data)) stale.push(name);
  }
  if (stale.length > 0) {
    console.error(`console/dist is stale (${stale.join(", ")}): run \`npm run build\` in console/web and commit console/dist`);
    process.exit(1);
  }
  console.log("console/dist is up to date");
} else {
  await mkdir(dist, { recursive: true });
  for (const [name, data] of files) await writeFile(path.join(dist, name), data);
  console.log(`wrote ${[...files.keys()].join(", ")} to console/dist`);
}
