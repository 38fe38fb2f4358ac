// Builds target/agent_js.wasm from src/agent.js with componentize-js, through its JS API.
// (The `jco componentize` command mishandles paths.) Run by build.sh, or: node build.mjs
import { componentize } from '@bytecodealliance/componentize-js';
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const output = join(here, 'target', 'agent_js.wasm');

const { component } = await componentize({
  sourcePath: join(here, 'src', 'agent.js'),
  witPath: join(here, '..', '..', 'wit', 'v0.2.1'),
  worldName: 'plugin',
  // The plugin needs stderr (console.error), clocks and randomness work in the sandbox anyway;
  // it never fetches: leave out the HTTP machinery, so the component imports no wasi:http.
  disableFeatures: ['http', 'fetch-event'],
});

await mkdir(dirname(output), { recursive: true });
await writeFile(output, component);
console.log(`wrote ${output} (${component.byteLength} bytes)`);
