// The types of the invigil SDK's API, shared by both ways of loading it:
// index.d.ts (the npm package's module) and invigil.d.ts (the script tag's
// window.invigil).

export type BlockReason =
  | 'camera_permission'
  | 'microphone_permission'
  | 'screen_permission'
  | 'fullscreen_exited'
  | 'screen_share_stopped'
  | 'unsupported_browser'
  | 'second_screen';

/** The SDK's lifecycle (`invigil.status` and the 'status' notice). `failed`: it could not start (see 'error'); nothing blocks the candidate. */
export type InvigilStatus = 'idle' | 'loading' | 'configuring' | 'setup' | 'running' | 'stopping' | 'stopped' | 'failed';

/** Media uploads (`invigil.uploads` and the 'uploads' notice): `disabled` after upload credentials kept failing; events still flow. */
export type InvigilUploads = 'enabled' | 'disabled';

/** 'status': the lifecycle changed. */
export interface StatusNotice {
  state: InvigilStatus;
  /** The session's id (UUIDv7), once the core runs. */
  session_id?: string;
  /** With `stopped`: why the server ended the session. */
  shutdown?: 'proctoring_disabled' | 'candidate_bypassed';
}

/** 'uploads': media uploads were disabled (credentials kept failing) or enabled again. */
export interface UploadsNotice {
  state: InvigilUploads;
}

/** 'block' and 'unblock': a check the candidate must fix started or stopped blocking the test. */
export interface BlockNotice {
  reason: BlockReason;
}

/** Why an 'error' happened. `unauthorized`: the token expired or was refused (call `setToken`). */
export type InvigilErrorCode = 'unauthorized' | 'wasm_load_failed' | 'unsupported_browser' | 'start_failed';

/** 'error': something the host should know; never blocks the candidate. */
export interface ErrorNotice {
  code: InvigilErrorCode;
  /** What happened, for logs (not on every `unauthorized`). */
  message?: string;
  /** For `unauthorized`: the HTTP status ingest answered. */
  http_status?: number;
}

/** 'identity' (face_check.mode = identity): the page's reference face was taken; later checks are compared with it. */
export interface IdentityNotice {
  reference: true;
}

/** Each event `on` and `off` take, with the notice its listeners receive. */
export interface InvigilNotices {
  status: StatusNotice;
  uploads: UploadsNotice;
  block: BlockNotice;
  unblock: BlockNotice;
  error: ErrorNotice;
  identity: IdentityNotice;
}

export type InvigilEvent = keyof InvigilNotices;

/** Any notice, for code that handles them all alike. */
export type InvigilNotice = InvigilNotices[InvigilEvent];

/**
 * What `start` takes. Script tag: each defaults to the tag's data- attribute
 * (`data-endpoint`, `data-token`, `data-wasm-url`, …), the files to those
 * beside invigil.js. npm module: `endpoint` and `token` are required; the
 * files default to the package's own, as your bundler emitted them.
 */
export interface InvigilStartOptions {
  /** Base URL of invigil ingest, e.g. https://proctor.example.com (default: the script tag's data-endpoint). */
  endpoint?: string;
  /** The candidate's JWT, minted by the host app's server (default: data-token). */
  token?: string;
  /** Where invigil_bg.wasm lives (default: the tag's data-wasm-url, else the SDK's own). Served as application/wasm, with CORS if on another origin. */
  wasmUrl?: string;
  /** Where invigil-live.js lives (default: the tag's data-live-url, else the SDK's own). Loaded only when a proctor first watches this candidate live; a classic script, so no CORS is needed. */
  liveUrl?: string;
  /** Where invigil-face.js lives (default: the tag's data-face-url, else the SDK's own); when given, its wasm and models (the detector, and the recogniser in face_check.mode = identity) are fetched from beside it, with CORS if on another origin. Loaded only when the test turns face checks on. */
  faceUrl?: string;
  /**
   * The candidate's language, a BCP 47 tag (default: the tag's data-locale,
   * else the page's `<html lang>`, else English). Shipped: en, hi, es, fr,
   * ar (right to left); `es-MX` is served by `es`. Any other language is
   * English unless `messages` gives its words.
   */
  locale?: string;
  /** The host's own words for any message (default: the tag's data-messages, a JSON object); `{name}` placeholders are filled in as in the shipped catalogues. */
  messages?: Partial<Record<InvigilMessageKey, string>>;
  /** Where the catalogues `invigil-messages-{lang}.json` live (default: the tag's data-messages-url, else beside invigil.js), with CORS if on another origin. Fetched only for a language other than English. */
  messagesUrl?: string;
}

/** The keys of the candidate's words (sdk/js/messages/en.json). */
export type InvigilMessageKey =
  | 'setup.title'
  | 'setup.intro'
  | 'paused.title'
  | 'paused.intro'
  | 'checks'
  | 'progress'
  | 'done'
  | 'announce.done'
  | 'help'
  | 'offline'
  | 'camera_permission.name'
  | 'camera_permission.title'
  | 'camera_permission.help'
  | 'camera_permission.action'
  | 'microphone_permission.name'
  | 'microphone_permission.title'
  | 'microphone_permission.help'
  | 'microphone_permission.action'
  | 'screen_permission.name'
  | 'screen_permission.title'
  | 'screen_permission.help'
  | 'screen_permission.action'
  | 'screen_share_stopped.name'
  | 'screen_share_stopped.title'
  | 'screen_share_stopped.help'
  | 'screen_share_stopped.action'
  | 'fullscreen_exited.name'
  | 'fullscreen_exited.title'
  | 'fullscreen_exited.help'
  | 'fullscreen_exited.action'
  | 'second_screen.name'
  | 'second_screen.title'
  | 'second_screen.help'
  | 'second_screen.action'
  | 'unsupported_browser.name'
  | 'unsupported_browser.title'
  | 'unsupported_browser.help'
  | 'note.message'
  | 'note.warning'
  | 'note.dismiss';

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
  /** Calls `listener` with each notice of `event` (`on('status', (n) => n.state)`); throws on an unknown event. */
  on<E extends InvigilEvent>(event: E, listener: (notice: InvigilNotices[E]) => void): void;
  /** Removes a listener `on` added. */
  off<E extends InvigilEvent>(event: E, listener: (notice: InvigilNotices[E]) => void): void;
  /** A host-app event on the candidate's timeline (≤ 2 KiB of JSON data). */
  track(name: string, data?: unknown): void;
  /** Replaces an expired token. */
  setToken(token: string): void;
  /** What the SDK has cost the page so far (main-thread calls into the core, their time, wasm memory). */
  diagnostics(options?: { reset?: boolean }): { calls: number; busy_ms: number; max_ms: number; over_16ms: number; wasm_memory_bytes: number } | null;
}
