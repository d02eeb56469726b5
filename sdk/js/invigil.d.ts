// Type declarations for window.invigil (sdk/js/invigil.js).

export type BlockReason =
  | 'camera_permission'
  | 'microphone_permission'
  | 'screen_permission'
  | 'fullscreen_exited'
  | 'screen_share_stopped'
  | 'unsupported_browser';

/** The SDK's lifecycle (`invigil.status` and the 'status' notice). `failed`: it could not start (see 'error'); nothing blocks the candidate. */
export type InvigilStatus = 'idle' | 'loading' | 'configuring' | 'setup' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Media uploads (`invigil.uploads` and the 'uploads' notice): `disabled` after upload credentials kept failing; events still flow. */
export type InvigilUploads = 'enabled' | 'disabled';

export interface InvigilNotice {
  /** For 'status': an InvigilStatus; for 'uploads': an InvigilUploads. */
  state?: string;
  /** For 'block' / 'unblock'. */
  reason?: BlockReason;
  /** Why the server stopped the session (with status 'stopped'). */
  shutdown?: 'proctoring_disabled' | 'candidate_bypassed';
  session_id?: string;
  /** For 'error': unauthorized (token expired or refused: call setToken), wasm_load_failed, unsupported_browser, start_failed. */
  code?: 'unauthorized' | 'wasm_load_failed' | 'unsupported_browser' | 'start_failed';
  /** For 'error': what happened, for logs. */
  message?: string;
  /** For an 'unauthorized' error: the HTTP status. */
  http_status?: number;
  /** For 'identity' (face_check.mode = identity): the page's reference face was taken; later checks are compared with it. */
  reference?: boolean;
}

export type InvigilEvent = 'block' | 'unblock' | 'status' | 'uploads' | 'error' | 'identity';

export interface InvigilStartOptions {
  /** Base URL of invigil ingest, e.g. https://proctor.example.com (default: the script tag's data-endpoint). */
  endpoint?: string;
  /** The candidate's JWT, minted by the host app's server (default: data-token). */
  token?: string;
  /** Where invigil_bg.wasm lives (default: the tag's data-wasm-url, else beside invigil.js). Served as application/wasm, with CORS if on another origin. */
  wasmUrl?: string;
  /** Where invigil-live.js lives (default: the tag's data-live-url, else beside invigil.js). Loaded only when a proctor first watches this candidate live; a classic script, so no CORS is needed. */
  liveUrl?: string;
  /** Where invigil-face.js lives (default: the tag's data-face-url, else beside invigil.js); its wasm and models (the detector, and the recogniser in face_check.mode = identity) are fetched from beside it, with CORS if on another origin. Loaded only when the test turns face checks on. */
  faceUrl?: string;
}

export interface Invigil {
  readonly version: string;
  /** The current session id (UUIDv7), once started. */
  readonly sessionId: string | null;
  /** Lifecycle, as of the last notice. */
  readonly status: InvigilStatus;
  readonly uploads: InvigilUploads;
  /** Resolves with the API once the core runs; rejects (with `code`) if the first start failed. Never blocks the candidate. */
  readonly ready: Promise<Invigil>;
  /** Starts proctoring (the tag does this by itself when it has data-endpoint and data-token). Settles like `ready`, never rejects; throws at once if neither the options nor the tag give an endpoint and a token. */
  start(options?: InvigilStartOptions): Promise<void>;
  /** Ends proctoring: devices released, overlay removed, the SDK's own fullscreen left; queued data is still delivered. */
  stop(): void;
  on(event: InvigilEvent, listener: (notice: InvigilNotice) => void): void;
  off(event: InvigilEvent, listener: (notice: InvigilNotice) => void): void;
  /** A host-app event on the candidate's timeline (≤ 2 KiB of JSON data). */
  track(name: string, data?: unknown): void;
  /** Replaces an expired token. */
  setToken(token: string): void;
  /** What the SDK has cost the page so far (main-thread calls into the core, their time, wasm memory). */
  diagnostics(options?: { reset?: boolean }): { calls: number; busy_ms: number; max_ms: number; over_16ms: number; wasm_memory_bytes: number } | null;
}

declare global {
  interface Window {
    invigil: Invigil;
  }
  interface WindowEventMap {
    /** Fired once the script ran (async tags): `detail` is the API, listeners attached now miss no notice. */
    'invigil:loaded': CustomEvent<Invigil>;
  }
}
