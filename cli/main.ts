// The gradlens command line: `gradlens <command> [args]`. Each command is a
// module in cli/commands/ exporting `usage` and `run(argv): Promise<number>`
// (the exit code); this file dispatches, prints errors as `gradlens: <message>`
// (the stack only with GRADLENS_DEBUG set) and, through cli(), releases the
// GPU before the process exits.

import { shutdown } from '../engine/index.js';
import { closeMatches } from '../explainers/errors.js';
import { UsageError } from './args.js';

export interface Command {
  /** The help text: first line `gradlens <name> ...`, then flags. */
  usage: string;
  run(argv: string[]): Promise<number>;
}

/** Subcommands, loaded on demand. Add a command: write cli/commands/<name>.ts and list it here. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  explain: () => import('./commands/explain.js'),
  detect: () => import('./commands/detect.js'),
  layers: () => import('./commands/layers.js'),
  run: () => import('./commands/run.js'),
  features: () => import('./commands/features.js'),
  filters: () => import('./commands/filters.js'),
  actmax: () => import('./commands/actmax.js'),
  metrics: () => import('./commands/metrics.js'),
};

async function overview(): Promise<string> {
  const lines = ['usage: gradlens <command> [args]   (gradlens <command> --help for its flags)', '', 'commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(8)} ${(await load()).usage.split('\n')[0].replace(/^usage: /, '')}`);
  return lines.join('\n');
}

/** Runs one command line and returns its exit code (no process exit, no GPU shutdown: tests call this). */
export async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? console.error : console.log)(await overview());
    return name === undefined ? 1 : 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) {
    const near = closeMatches(name, Object.keys(COMMANDS), 2);
    return fail(new UsageError(`unknown command '${name}'.${near.length ? ` Did you mean '${near[0]}'?` : ''} Commands: ${Object.keys(COMMANDS).join(', ')}`));
  }
  const command = await load();
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.usage);
    return 0;
  }
  try {
    return await command.run(rest);
  } catch (e) {
    return fail(e, command);
  }
}

function fail(e: unknown, command?: Command): number {
  const message = e instanceof Error ? e.message : String(e);
  console.error(`gradlens: ${message}`);
  if (e instanceof UsageError && command) console.error(`\n${command.usage}`);
  if (process.env.GRADLENS_DEBUG && e instanceof Error && e.stack) {
    console.error(e.stack);
    // A reworded library error (cli/errors.ts): the library's own stack too.
    if (e.cause instanceof Error && e.cause.stack) console.error(`caused by: ${e.cause.stack}`);
  }
  return 1;
}

/** The process entry (cli/gradlens.mjs calls it): main, then release the GPU so Node can exit, then exit. */
export async function cli(argv: readonly string[]): Promise<never> {
  let code: number;
  try {
    code = await main(argv);
  } catch (e) {
    code = fail(e); // a command that failed to load
  }
  try {
    await shutdown();
  } catch (e) {
    code = fail(e);
  }
  process.exit(code);
}
