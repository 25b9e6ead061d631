// A vitest reporter that ends the run with its ten slowest tests, so a slow
// test is seen where it appears. On a software adapter the usual cause is a
// new shader variant: llvmpipe compiles each pipeline at its first dispatch.

import type { Reporter, TestCase } from 'vitest/node';

export default class SlowestTests implements Reporter {
  private readonly times: { name: string; ms: number }[] = [];

  onTestCaseResult(testCase: TestCase): void {
    const ms = testCase.diagnostic()?.duration;
    if (ms !== undefined) this.times.push({ name: `${testCase.module.moduleId.replace(`${process.cwd()}/`, '')} > ${testCase.fullName}`, ms });
  }

  onTestRunEnd(): void {
    const slowest = [...this.times].sort((a, b) => b.ms - a.ms).slice(0, 10);
    if (!slowest.length) return;
    console.log('\nThe 10 slowest tests:');
    for (const { name, ms } of slowest) console.log(`  ${(ms / 1000).toFixed(1).padStart(6)} s  ${name}`);
  }
}
