// A call in an iframe of the join page (the whole hearing client: media, recording light, reconnects): the station
// and duty pages' connect-a-judge calls and the petitions pages' video calls.

/** Open `link` (a /join#token=… link) in `frame`; the same link again leaves the running call alone. */
export function showCall(frame, link) {
  const url = `${link}&skipcheck=1`;
  if (frame.dataset.link !== url) {
    frame.dataset.link = url;
    frame.src = url.replace(/^https?:\/\/[^/]+/, "");
  }
}

export function hideCall(frame) {
  if (frame.dataset.link) {
    frame.dataset.link = "";
    frame.src = "about:blank";
  }
}
