// The room page's layout classes, kept in step with what is open. An exhibit presented (#exhibit-view) or a side
// panel (#exhibits, #transcript, #roster) opened takes the "doc" area of #room-view's grid (hearing.css): the
// videos then stay in their own column and the court's console (庭审管理) keeps its own, so evidence never covers
// the people or the judge's controls (issue 15, item 2). Watching the `hidden` attributes keeps the modules that
// open and close these (exhibits.js, transcript.js, app.js) unaware of the layout.
const PANELS = ["exhibits", "transcript", "roster"];

/** The body classes for what is shown. Pure: unit-tested. */
export function layoutClasses({ exhibit = false, panel = false } = {}) {
  return { "doc": exhibit || panel, "doc-exhibit": exhibit, "doc-panel": panel };
}

export function watchLayout(doc = document) {
  const $ = (id) => doc.getElementById(id);
  const apply = () => {
    const exhibit = !!$("exhibit-view") && !$("exhibit-view").hidden;
    const panel = PANELS.some((id) => $(id) && !$(id).hidden);
    for (const [name, on] of Object.entries(layoutClasses({ exhibit, panel }))) doc.body.classList.toggle(name, on);
  };
  const observer = new MutationObserver(apply);
  for (const id of ["exhibit-view", ...PANELS]) {
    if ($(id)) observer.observe($(id), { attributes: true, attributeFilter: ["hidden"] });
  }
  apply();
  return observer;
}
