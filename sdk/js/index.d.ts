// Types of the npm package's module: `import invigil from '@invigil/sdk'`.
import type { Invigil } from './types.js';

export * from './types.js';

/** The SDK's API; nothing runs until `invigil.start({ endpoint, token })`. */
export declare const invigil: Invigil;
export default invigil;
