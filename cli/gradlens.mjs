#!/usr/bin/env node
// The `gradlens` command (package.json "bin"): runs the built command line in
// dist/, which `npm run build` makes (`npm ci`, `npm install` and `npm pack`
// run it through the prepare and prepack scripts).
const main = new URL('../dist/cli/main.js', import.meta.url);
let cli;
try {
  ({ cli } = await import(main.href));
} catch (e) {
  if (e?.code === 'ERR_MODULE_NOT_FOUND' && String(e.message).includes(main.pathname)) {
    console.error(`gradlens: ${main.pathname} is missing: run \`npm run build\` first`);
    process.exit(1);
  }
  throw e;
}
await cli(process.argv.slice(2));
