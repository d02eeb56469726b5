// Type declarations for window.invigil (sdk/js/invigil.js).

export type BlockReason =
  | 'camera_permission'
  | 'microphone_permission'
  | 'screen_permission'
  | 'fullscreen_exited'
  | 'screen_share_stopped'
  | 'unsupported_browser';

export interface InvigilNotice {
  /** For 'status': configuring | setup | running | stopping | stopped | unauthorized | uploads_disabled | uploads_enabled */
  state?: string;
  /** For 'block' / 'unblock'. */
  reason?: BlockReason;
  /** Why the server stopped the session. */
  shutdown?: 'proctoring_disabled' | 'candidate_bypassed';
  session_id?: string;
  http_status?: number;
}

export interface InvigilStartOptions {
  /** Base URL of invigil ingest, e.g. https://proctor.example.com (default: the script tag's data-endpoint). */
  endpoint?: string;
  /** The candidate's JWT, minted by the host app's server (default: data-token). */
  token?: string;
  /** Where invigil_bg.wasm lives (default: beside invigil.js). */
  wasmUrl?: string;
}

export interface Invigil {
  readonly version: string;
  /** The current session id (UUIDv7), once started. */
  readonly sessionId: string | null;
  start(options?: InvigilStartOptions): Promise<void>;
  /** Ends proctoring: devices released, overlay removed; queued data is still delivered. */
  stop(): void;
  on(event: 'block' | 'unblock' | 'status', listener: (notice: InvigilNotice) => void): void;
  off(event: 'block' | 'unblock' | 'status', listener: (notice: InvigilNotice) => void): void;
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
}
