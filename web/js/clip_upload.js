// The browser side of the one recorded-clip upload (docs/clips.md): declare the clip, send it in chunks, resume from
// the server's committed offset after any drop, retry with backoff, then ask the server to verify and store it.
// Used by the petition page, the asynchronous trial's answers and the stations' recorded messages.
//
//   const clip = await uploadClip(blob, { purpose: "petition", headers: { "X-Petition-Filing": token },
//                                         onProgress: (sent, total) => ..., onRetry: (n, ms, why) => ... });
//
// Errors the server refuses for good (a damaged clip, a foreign codec, too long, expired) reject with a
// ClipUploadError carrying the server's code and parameters (translate with i18n.js: `err_${code}`). Network
// failures and 5xx answers never reject: the upload waits (backoff up to `maxDelayMs`, sooner when the browser
// comes back online) and resumes, until `signal` aborts it.

const RETRYABLE_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

export class ClipUploadError extends Error {
  constructor(status, body) {
    super(body?.message || `clip upload refused (${status})`);
    this.name = "ClipUploadError";
    this.status = status;
    this.code = body?.error || "network";
    this.params = body || {};
  }
}

/** SHA-256 of a Blob as lowercase hex (Web Crypto: needs a secure context — HTTPS, or localhost/127.0.0.1). */
export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Delay before retry `n` (1, 2, ...): 1 s, 2 s, 4 s ... capped, with ±20 % jitter so a village's devices that lost
 *  the link together do not come back in step. Pure (pass `random` to test it). */
export function backoffDelay(n, { baseMs = 1000, maxMs = 30000, random = Math.random } = {}) {
  const plain = Math.min(maxMs, baseMs * 2 ** Math.max(0, n - 1));
  return Math.round(plain * (0.8 + 0.4 * random()));
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    const done = () => { clearTimeout(timer); window.removeEventListener("online", done); resolve(); };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done, { once: true }); // the link is back: try at once
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, { once: true });
  });
}

async function readJson(response) {
  try { return await response.json(); } catch { return {}; }
}

/**
 * Upload `blob` as a clip; resolves with the stored clip ({id, sha256, duration_ms, ...}).
 * Options: purpose (required), headers (the caller's credentials), base ("" = same origin), chunkBytes (first chunk
 * size; doubles while chunks go through up to maxChunkBytes, default 4 MiB; halves after a failure), onProgress(sent, total), onRetry(attempt, delayMs,
 * reason), onState(state) with "hashing" | "uploading" | "verifying" | "done", signal (AbortSignal), maxDelayMs,
 * uploadId (resume an upload created earlier, e.g. before a page reload).
 */
export async function uploadClip(blob, opts) {
  const { purpose, headers = {}, base = "", onProgress = () => {}, onRetry = () => {}, onState = () => {},
    signal, maxDelayMs = 30000 } = opts;
  const maxChunk = opts.maxChunkBytes || 4 * 1024 * 1024;
  let chunk = Math.min(opts.chunkBytes || 256 * 1024, maxChunk);
  const minChunk = Math.min(32 * 1024, chunk);
  const root = `${base}/api/clips/${encodeURIComponent(purpose)}/uploads`;
  const type = blob.type || "video/webm";
  let failures = 0;

  // One request, retried on network errors and 5xx; a 4xx other than those is final (ClipUploadError).
  async function call(method, url, init = {}, { accept = [] } = {}) {
    for (;;) {
      signal?.throwIfAborted();
      let response;
      try {
        response = await fetch(url, { method, signal, cache: "no-store", ...init,
          headers: { ...headers, ...(init.headers || {}) } });
      } catch (err) {
        if (signal?.aborted) throw err;
        response = null;
      }
      if (response && (response.ok || accept.includes(response.status))) {
        failures = 0;
        return response;
      }
      if (response && !RETRYABLE_STATUS.has(response.status)) {
        throw new ClipUploadError(response.status, await readJson(response));
      }
      failures += 1;
      const delay = backoffDelay(failures, { maxMs: maxDelayMs });
      onRetry(failures, delay, response ? `http_${response.status}` : "network");
      await sleep(delay, signal);
    }
  }

  let uploadId = opts.uploadId;
  let offset = 0;
  if (!uploadId) {
    onState("hashing");
    const sha256 = await sha256Hex(blob);
    const created = await call("POST", root, {
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ size: blob.size, content_type: type, sha256 }),
    });
    const body = await created.json();
    uploadId = body.id;
    chunk = Math.min(chunk, body.max_chunk_bytes || chunk);
    opts.onCreated?.(uploadId);
  } else {
    const head = await call("HEAD", `${root}/${uploadId}`);
    offset = Number(head.headers.get("Upload-Offset"));
  }
  const url = `${root}/${uploadId}`;
  onState("uploading");
  onProgress(offset, blob.size);
  while (offset < blob.size) {
    signal?.throwIfAborted();
    const piece = blob.slice(offset, Math.min(blob.size, offset + chunk));
    let response = null;
    try {
      response = await fetch(url, { method: "PATCH", signal, cache: "no-store", body: piece,
        headers: { ...headers, "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" } });
    } catch (err) {
      if (signal?.aborted) throw err;
    }
    if (response?.ok) {
      offset = Number(response.headers.get("Upload-Offset"));
      failures = 0;
      chunk = Math.min(chunk * 2, maxChunk);
      onProgress(offset, blob.size);
      continue;
    }
    const body = response ? await readJson(response) : {};
    if (response?.status === 409 && body.error === "clip_offset_mismatch") {
      offset = Number(body.offset); // the server kept more (or less) than we thought: continue from its offset
      onProgress(offset, blob.size);
      continue;
    }
    if (response && !RETRYABLE_STATUS.has(response.status)) throw new ClipUploadError(response.status, body);
    // Dropped or refused for now: wait, then ask where the server is (part of a cut chunk may have been kept).
    failures += 1;
    chunk = Math.max(minChunk, Math.floor(chunk / 2));
    const delay = backoffDelay(failures, { maxMs: maxDelayMs });
    onRetry(failures, delay, response ? `http_${response.status}` : "network");
    await sleep(delay, signal);
    const head = await call("HEAD", url);
    offset = Number(head.headers.get("Upload-Offset"));
    onProgress(offset, blob.size);
  }
  onState("verifying");
  const done = await call("POST", `${url}/complete`);
  onState("done");
  return (await done.json()).clip;
}
