// Types of window.invigil, for pages that load the SDK with its script tag
// (`/// <reference types="@invigil/sdk/global" />`, or this file beside
// dist/invigil.js).
import type { Invigil } from './types.js';

export * from './types.js';

declare global {
  interface Window {
    invigil: Invigil;
  }
  interface WindowEventMap {
    /** Fired once the script ran (async tags): `detail` is the API, listeners attached now miss no notice. */
    'invigil:loaded': CustomEvent<Invigil>;
  }
}
