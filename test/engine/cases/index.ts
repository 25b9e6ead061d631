// All op test cases, merged. Each op family adds its file here.
import type { OpCases } from '../op-cases.js';
import { coreCases } from '../op-cases.js';
import { convCases } from './conv.js';
import { resizeCases } from './resize.js';
import { shapeOpCases } from './shape-ops.js';
import { batchNormCases } from './batchnorm.js';
import { extremumCases } from './extremum.js';
import { poolCases } from './pool.js';
import { softmaxCases } from './softmax.js';

export const allCases: OpCases = { ...coreCases, ...convCases, ...shapeOpCases, ...resizeCases, ...batchNormCases, ...poolCases, ...softmaxCases, ...extremumCases };
