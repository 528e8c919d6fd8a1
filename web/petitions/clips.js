// Petition clips go through the platform's one resumable clip upload (web/js/clip_upload.js, purpose "petition"):
// chunked, resumed after a drop from the offset the server holds, verified by SHA-256 on the server.
// `headers` carry the filing session (citizen) or nothing (staff: the session cookie).
import { uploadClip } from "/static/js/clip_upload.js";

export function uploadPetitionClip(blob, headers, { progress = () => {}, retrying = () => {} } = {}) {
  return uploadClip(blob, { purpose: "petition", headers, onProgress: progress, onRetry: retrying });
}
