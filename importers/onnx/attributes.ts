// Typed access to a node's attributes: a missing required attribute or one of
// the wrong kind is an OnnxGraphError naming the node and the attribute.

import { OnnxGraphError } from './errors.js';
import type { OnnxAttribute, OnnxNode, OnnxTensor } from './proto.js';

export class Attributes {
  constructor(
    readonly node: OnnxNode,
    /** How errors name the node (its name, or its index and first output when unnamed). */
    readonly label: string,
  ) {}

  has(name: string): boolean {
    return this.node.attributes.has(name);
  }

  int(name: string, fallback?: number): number {
    return this.get(name, 'int', fallback) as number;
  }

  float(name: string, fallback?: number): number {
    // Some exporters write integral values of float attributes as ints.
    const a = this.node.attributes.get(name);
    if (a?.type === 'int') return a.value;
    return this.get(name, 'float', fallback) as number;
  }

  string(name: string, fallback?: string): string {
    return this.get(name, 'string', fallback) as string;
  }

  ints(name: string, fallback?: readonly number[]): number[] {
    return [...(this.get(name, 'ints', fallback) as number[])];
  }

  floats(name: string, fallback?: readonly number[]): number[] {
    const a = this.node.attributes.get(name);
    if (a?.type === 'ints') return [...a.value];
    return [...(this.get(name, 'floats', fallback) as number[])];
  }

  tensor(name: string): OnnxTensor {
    return this.get(name, 'tensor', undefined) as OnnxTensor;
  }

  /** The raw attribute, for ops whose attribute may be one of several kinds (Constant). */
  raw(name: string): OnnxAttribute | undefined {
    return this.node.attributes.get(name);
  }

  private get(name: string, type: OnnxAttribute['type'], fallback: unknown): unknown {
    const a = this.node.attributes.get(name);
    if (!a) {
      if (fallback === undefined) throw this.error(`required attribute '${name}' is missing`);
      return fallback;
    }
    if (a.type !== type) throw this.error(`attribute '${name}' is ${a.type.toUpperCase()}, expected ${type.toUpperCase()}`);
    return a.value;
  }

  private error(detail: string): OnnxGraphError {
    return new OnnxGraphError(this.label, this.node.opType, detail);
  }
}
