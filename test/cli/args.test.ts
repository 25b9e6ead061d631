// The CLI's flag parser: forms of flags, typed errors for unknown and missing flags.

import { describe, expect, test } from 'vitest';
import { decimal, integerFlag, MissingFlagError, MissingValueError, parseArgs, parseShapeFlag, UnknownFlagError, UsageError } from '../../cli/args.js';

const spec = {
  model: { type: 'string', required: true },
  out: { type: 'string' },
  'input-shape': { type: 'string', multiple: true },
  json: { type: 'boolean' },
} as const;

describe('parseArgs', () => {
  test('--flag value, --flag=value, booleans, repeats, positionals and --', () => {
    const { flags, positionals } = parseArgs(['a.onnx', '--model', 'm.onnx', '--out=y.npy', '--json', '--input-shape', 'x=1x3', '--input-shape=y=2', '--', '--not-a-flag'], spec);
    expect(flags).toEqual({ model: 'm.onnx', out: 'y.npy', json: true, 'input-shape': ['x=1x3', 'y=2'] });
    expect(positionals).toEqual(['a.onnx', '--not-a-flag']);
    expect(parseArgs(['--model', 'm'], spec).flags).toEqual({ model: 'm', out: undefined, json: false, 'input-shape': [] });
  });

  test('an unknown flag names the flags there are and the closest one', () => {
    expect(() => parseArgs(['--modle', 'm'], spec)).toThrow(UnknownFlagError);
    expect(() => parseArgs(['--modle', 'm'], spec)).toThrow('unknown flag --modle. Did you mean --model? Flags: --model, --out, --input-shape, --json');
  });

  test('a missing required flag, a flag without its value, a value for a boolean', () => {
    expect(() => parseArgs(['--out', 'y'], spec)).toThrow(MissingFlagError);
    expect(() => parseArgs(['--out', 'y'], spec)).toThrow('missing required flag --model');
    expect(() => parseArgs(['--model'], spec)).toThrow(MissingValueError);
    expect(() => parseArgs(['--model', '--json'], spec)).toThrow('flag --model needs a value (--model <value> or --model=<value>)');
    expect(() => parseArgs(['--model='], spec)).toThrow(MissingValueError);
    expect(() => parseArgs(['--model', 'm', '--json=yes'], spec)).toThrow('flag --json takes no value');
    expect(() => parseArgs(['--toString', 'x'], spec)).toThrow(UnknownFlagError); // no prototype keys
  });

  test('shape flags', () => {
    expect(parseShapeFlag('x=1x3x48x192')).toEqual(['x', [1, 3, 48, 192]]);
    expect(parseShapeFlag('a=b=1,2')).toEqual(['a=b', [1, 2]]);
    expect(() => parseShapeFlag('1x3')).toThrow(UsageError);
    expect(() => parseShapeFlag('x=1x0')).toThrow(/--input-shape 'x=1x0' must look like name=1x3x224x224/);
    // Digits only: Number() reads ' 8' as 8 and '1e2' as 100.
    for (const v of ['x=1x3x 8x8', 'x=1x3x1e2x8', 'x=1x3x8x', 'x=1x3x+8x8']) expect(() => parseShapeFlag(v)).toThrow(UsageError);
  });

  test('integer and decimal flags take only what they look like', () => {
    expect(integerFlag('12', 'class', 0, 'a non-negative integer')).toBe(12);
    for (const v of ['', ' ', '0x2', '1e0', '+1', '-1', '1.0', '1_0', '９']) {
      expect(() => integerFlag(v, 'class', 0, 'a non-negative integer')).toThrow(`--class '${v}' must be a non-negative integer`);
    }
    expect(() => integerFlag('0', 'batch-size', 1, 'a positive integer')).toThrow("--batch-size '0' must be a positive integer");
    expect([decimal('0.25'), decimal('.5'), decimal('1'), decimal('1e-3')]).toEqual([0.25, 0.5, 1, 0.001]);
    for (const v of ['', ' ', '0x1', 'Infinity', '1,5', '.']) expect(decimal(v)).toBeNaN();
  });
});
