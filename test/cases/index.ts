// All op test cases, merged. Each op family adds its file here.
import type { OpCases } from '../op-cases.js';
import { coreCases } from '../op-cases.js';

export const allCases: OpCases = { ...coreCases };
