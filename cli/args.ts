// A small flag parser shared by the subcommands: `--name value`,
// `--name=value`, boolean `--flag`, repeatable flags, positionals, and `--`
// to end the flags. Mistakes are typed errors whose message says what to type.

import { GradlensError } from '../engine/index.js';
import { closeMatches } from '../explainers/errors.js';

/** Bad command-line usage; main prints the message and the command's usage. */
export class UsageError extends GradlensError {}

export class UnknownFlagError extends UsageError {
  constructor(
    readonly flag: string,
    known: readonly string[],
  ) {
    const near = closeMatches(flag, known, 3);
    const hint = near.length ? ` Did you mean ${near.map((f) => `--${f}`).join(', ')}?` : '';
    super(`unknown flag --${flag}.${hint} Flags: ${known.map((f) => `--${f}`).join(', ') || '(none)'}`);
  }
}

export class MissingFlagError extends UsageError {
  constructor(readonly flag: string) {
    super(`missing required flag --${flag}`);
  }
}

export class MissingValueError extends UsageError {
  constructor(readonly flag: string) {
    super(`flag --${flag} needs a value (--${flag} <value> or --${flag}=<value>)`);
  }
}

export interface FlagSpec {
  /** 'string' takes a value; 'boolean' does not. */
  type: 'string' | 'boolean';
  required?: boolean;
  /** May be given several times (values collected in order). */
  multiple?: boolean;
}

type FlagValue<F extends FlagSpec> = F['type'] extends 'boolean'
  ? boolean
  : F['multiple'] extends true
    ? string[]
    : F['required'] extends true
      ? string
      : string | undefined;

export interface Parsed<S extends Record<string, FlagSpec>> {
  flags: { [K in keyof S]: FlagValue<S[K]> };
  positionals: string[];
}

/** Parses argv against `spec`; throws a UsageError for unknown flags, missing values and missing required flags. */
export function parseArgs<S extends Record<string, FlagSpec>>(argv: readonly string[], spec: S): Parsed<S> {
  const flags: Record<string, string | string[] | boolean | undefined> = {};
  for (const [name, f] of Object.entries(spec)) flags[name] = f.type === 'boolean' ? false : f.multiple ? [] : undefined;
  const positionals: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const f = Object.hasOwn(spec, name) ? spec[name] : undefined;
    if (!f) throw new UnknownFlagError(name, Object.keys(spec));
    if (f.type === 'boolean') {
      if (eq >= 0) throw new UsageError(`flag --${name} takes no value`);
      flags[name] = true;
      continue;
    }
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : argv[i + 1];
    if (eq < 0) {
      if (value === undefined || value.startsWith('--')) value = undefined;
      else i++;
    }
    if (value === undefined || value === '') throw new MissingValueError(name);
    if (f.multiple) (flags[name] as string[]).push(value);
    else flags[name] = value;
  }
  for (const [name, f] of Object.entries(spec)) {
    const v = flags[name];
    if (f.required && (v === undefined || (Array.isArray(v) && !v.length))) throw new MissingFlagError(name);
  }
  return { flags: flags as Parsed<S>['flags'], positionals };
}

/** `name=1x3x48x192` (or 1,3,48,192) -> ['name', [1, 3, 48, 192]]. */
export function parseShapeFlag(value: string): [string, number[]] {
  const eq = value.lastIndexOf('=');
  const parts = value.slice(eq + 1).split(/[x,]/);
  // Digits only: Number() would read ' 8' or '1e2'.
  if (eq <= 0 || parts.some((d) => !/^\d+$/.test(d) || Number(d) < 1)) {
    throw new UsageError(`--input-shape '${value}' must look like name=1x3x224x224`);
  }
  return [value.slice(0, eq), parts.map(Number)];
}

/**
 * An integer flag written in decimal digits only, at least `min`: Number()
 * would take ' ' (0), '0x2' (2) and '1e0' (1). `what` ends the error message.
 */
export function integerFlag(value: string, flag: string, min: number, what: string): number {
  const v = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(v) || v < min) throw new UsageError(`--${flag} '${value}' must be ${what}`);
  return v;
}

/** A decimal number flag (1, 0.25, .5, 1e-3); NaN for anything else (' ', '0x1', 'Infinity'). */
export function decimal(value: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value) ? Number(value) : NaN;
}

/** ` Did you mean 'x'?` for a misspelt name, or ''. */
export function didYouMean(name: string, known: readonly string[]): string {
  const near = closeMatches(name, known, 3);
  return near.length ? ` Did you mean ${near.map((n) => `'${n}'`).join(', ')}?` : '';
}
