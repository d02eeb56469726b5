// IndexedDB: where the SDK keeps what must survive a closed tab — queued
// events, session records, captured media (blobs) and recording slices.

const DB_NAME = 'invigil';

/** Opens the SDK's database: events, sessions, media (blobs) and audio slices. */
export function openDb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => {
      for (const store of ['events', 'sessions', 'media', 'slices']) request.result.createObjectStore(store);
    };
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/** Runs `work` on `store` in one transaction; resolves with its request's result once committed. */
export function tx(db, store, mode, work) {
  return new Promise((resolve, reject) => {
    const t = db.transaction(store, mode);
    const result = work(t.objectStore(store));
    t.oncomplete = () => resolve(result && 'result' in result ? result.result : undefined);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}

/** Every `[key, value]` of `store`, in key order. */
export function readAll(db, store) {
  return new Promise((resolve, reject) => {
    const out = [];
    const request = db.transaction(store).objectStore(store).openCursor();
    request.onsuccess = () => {
      const cursor = request.result;
      if (!cursor) return resolve(out);
      out.push([cursor.key, cursor.value]);
      cursor.continue();
    };
    request.onerror = () => reject(request.error);
  });
}

/** Resolves when transaction `t` commits, rejects if it fails. */
export function committed(t) {
  return new Promise((resolve, reject) => {
    t.oncomplete = resolve;
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error);
  });
}
