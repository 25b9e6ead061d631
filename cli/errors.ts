// Library errors in command-line words. The library speaks its API
// (`model.layers()`, the `layers` option); a command catches the typed errors
// it knows and says the flag or command to use instead, so that every hint it
// prints works when followed.

import { GradlensError } from '../engine/index.js';
import { LayerNotFound, NoGradientPath } from '../explainers/errors.js';

/** An error reworded for the command line; `cause` is the library's (GRADLENS_DEBUG prints both stacks). */
export class CliError extends GradlensError {
  constructor(message: string, cause?: unknown) {
    super(message);
    if (cause !== undefined) this.cause = cause;
  }
}

export interface CliContext {
  /** The model file, for `gradlens layers <model>`. */
  model: string;
  /** The flag that names layers in this command (--layer, --output). */
  layerFlag: string;
}

/** `e` reworded when it is a library error with API wording; otherwise `e` itself. */
export function cliError(e: unknown, ctx: CliContext): unknown {
  const list = `\`gradlens layers ${ctx.model}\` lists every tensor name`;
  if (e instanceof LayerNotFound) {
    const near = e.suggestions.length ? ` Did you mean: ${e.suggestions.map((s) => `'${s}'`).join(', ')}?` : '';
    return new CliError(`${ctx.layerFlag}: layer '${e.layer}' not found in the model.${near} (${list})`, e);
  }
  if (e instanceof NoGradientPath) {
    return new CliError(
      `--layer '${e.layer}': the explained score (${e.target}) does not depend on this layer. ` +
        `Pick a --layer the explained output is computed from (${list}, in execution order).`,
      e,
    );
  }
  return e;
}

/** Runs `body`, rewording the library errors it throws. */
export async function withCliWording<T>(ctx: CliContext, body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (e) {
    throw cliError(e, ctx);
  }
}
