// The review console's page: sign-in, inbox and case views, wired to the API through lib.js.
// API data only ever reaches the page through textContent and DOM properties, never innerHTML.

import {
  buildVerdictRequest,
  checkReviewer,
  caseHash,
  createApiClient,
  createSession,
  CREDENTIAL_ERRORS,
  describeError,
  earliestExpiry,
  formatAge,
  formatDuration,
  formatNumber,
  formatTime,
  imageSlots,
  LIMITS,
  parseRoute,
  reasonTag,
  reasonText,
  scalePositions,
  statusText,
  summariseSteps,
  validateSignIn,
} from "./lib.js";

const session = createSession(window.sessionStorage);
const api = createApiClient({ fetch: (url, init) => window.fetch(url, init), getKey: session.key });
const $ = (id) => document.getElementById(id);

let flashMessage = ""; // shown once on the inbox, after a verdict
let currentCase = null; // the case on screen
let loadCounter = 0; // a newer load wins over a slower older one
let pendingVerdict = null; // "accept" | "reject" while the confirm step is open

// --- small DOM helpers ------------------------------------------------------------------------

/** An element with text children (strings become text nodes) and plain properties. */
function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === "className") node.className = value;
    else if (name === "dataset") Object.assign(node.dataset, value);
    else if (name in node) node[name] = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function showNotice(node, text, detail = "") {
  node.replaceChildren(el("p", {}, text), detail ? el("p", { className: "detail" }, detail) : "");
  node.hidden = false;
}

function hideNotice(node) {
  node.hidden = true;
  node.replaceChildren();
}

function showError(node, err) {
  const { title, detail } = describeError(err);
  showNotice(node, title, detail);
  if (err && CREDENTIAL_ERRORS.includes(err.code)) {
    node.append(el("p", {}, el("button", { type: "button", className: "button subtle", onclick: signOut }, "Sign out")));
  }
}

function announce(text) {
  const node = $("announcer");
  node.textContent = "";
  window.setTimeout(() => (node.textContent = text), 50);
}

function showView(name, title) {
  for (const view of ["sign-in", "inbox", "case"]) $(`view-${view}`).hidden = view !== name;
  document.title = `${title} · bioauth review console`;
  $("session").hidden = name === "sign-in";
  $("session-name").textContent = session.reviewer() ? `Signed in as ${session.reviewer()}` : "";
}

function focusHeading(id) {
  const heading = $(id);
  if (heading) heading.focus({ preventScroll: false });
}

// --- routing ----------------------------------------------------------------------------------

function route() {
  if (!session.signedIn()) {
    showSignIn();
    return;
  }
  const where = parseRoute(window.location.hash);
  if (where.view === "case") openCase(where.id);
  else openInbox();
}

// --- sign in / out ----------------------------------------------------------------------------

function showSignIn(message = "") {
  clearCase();
  showView("sign-in", "Sign in");
  $("sign-in-key-error").textContent = "";
  if (message) showNotice($("sign-in-error"), message);
  else hideNotice($("sign-in-error"));
  $("sign-in-key").value = "";
  focusHeading("sign-in-title");
}

async function onSignIn(event) {
  event.preventDefault();
  const form = $("sign-in-form");
  const checked = validateSignIn({ key: $("sign-in-key").value });
  $("sign-in-key-error").textContent = checked.ok ? "" : checked.errors.key || "";
  $("sign-in-key").setAttribute("aria-invalid", String(!checked.ok));
  if (!checked.ok) {
    $("sign-in-key").focus();
    return;
  }
  hideNotice($("sign-in-error"));
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  session.signIn({ key: checked.value.key, reviewer: "" });
  try {
    const reviewer = checkReviewer(await api.whoami()); // proves the key, and names its holder, before showing anything
    if (!reviewer.ok) {
      session.signOut();
      showNotice($("sign-in-error"), reviewer.message);
      $("sign-in-key").focus();
      return;
    }
    session.signIn({ key: checked.value.key, reviewer: reviewer.name });
  } catch (err) {
    session.signOut();
    showError($("sign-in-error"), err);
    if (CREDENTIAL_ERRORS.includes(err.code)) {
      $("sign-in-error").replaceChildren(el("p", {}, "That reviewer key was not accepted. Check it and try again."));
    }
    $("sign-in-key").focus();
    return;
  } finally {
    button.disabled = false;
  }
  $("sign-in-key").value = "";
  if (!window.location.hash) window.location.hash = "#/";
  route();
}

function signOut() {
  session.signOut();
  flashMessage = "";
  if (window.location.hash && window.location.hash !== "#/") window.location.hash = "#/"; // hashchange routes
  route();
  announce("Signed out.");
}

// --- inbox ------------------------------------------------------------------------------------

function openInbox() {
  clearCase();
  showView("inbox", "Inbox");
  if (flashMessage) {
    showNotice($("inbox-flash"), flashMessage);
    flashMessage = "";
  } else {
    hideNotice($("inbox-flash"));
  }
  focusHeading("inbox-title");
  loadInbox();
}

async function loadInbox() {
  const token = ++loadCounter;
  const button = $("inbox-refresh");
  button.disabled = true;
  $("inbox-summary").textContent = "Loading…";
  hideNotice($("inbox-error"));
  try {
    const data = await api.listCases(50);
    if (token !== loadCounter) return;
    renderInbox(data);
  } catch (err) {
    if (token !== loadCounter) return;
    $("inbox-summary").textContent = "";
    showError($("inbox-error"), err);
  } finally {
    button.disabled = false;
  }
}

function renderInbox({ cases = [], count = 0 }) {
  const now = Date.now();
  const summary =
    count === 0
      ? ""
      : cases.length < count
        ? `Showing the ${cases.length} oldest of ${count} cases waiting.`
        : `${count} ${count === 1 ? "case" : "cases"} waiting, oldest first.`;
  $("inbox-summary").textContent = summary ? `${summary} Updated ${new Date(now).toLocaleTimeString()}.` : "";
  $("inbox-empty").hidden = count !== 0;
  $("inbox-list").replaceChildren(
    ...cases.map((c) =>
      el(
        "li",
        { className: "case-item" },
        el(
          "a",
          { href: caseHash(c.id), className: "case-link" },
          el("span", { className: "case-subject" }, `Subject ${c.subject_id}`),
          el("span", { className: "case-age" }, `waiting ${formatAge(c.created_at, now)}`),
        ),
        el(
          "p",
          { className: "case-meta" },
          `Device ${c.device_id || "unknown"} · received ${formatTime(c.created_at)} · case ${String(c.id).slice(0, 8)}`,
        ),
        el(
          "ul",
          { className: "tags", "aria-label": "Reasons" },
          (c.reasons || []).map((r) => el("li", { className: "tag", title: reasonText(r) }, reasonTag(r))),
        ),
      ),
    ),
  );
}

// --- one case ---------------------------------------------------------------------------------

function clearCase() {
  currentCase = null;
  pendingVerdict = null;
  $("case-images").replaceChildren(); // drop the image links from the page
  $("case-references").replaceChildren();
  $("case-body").hidden = true;
}

function openCase(id) {
  const sameCase = currentCase && currentCase.id === id;
  if (!sameCase) {
    clearCase();
    $("verdict-note").value = "";
    setPresentation("");
  }
  showView("case", "Case");
  $("case-title").textContent = "Case";
  focusHeading("case-title");
  loadCase(id);
}

async function loadCase(id) {
  const token = ++loadCounter;
  const button = $("case-reload");
  button.disabled = true;
  hideNotice($("case-error"));
  try {
    const data = await api.getCase(id);
    if (token !== loadCounter) return;
    renderCase(data);
    announce(`Case for subject ${data.subject_id} loaded.`);
  } catch (err) {
    if (token !== loadCounter) return;
    $("case-body").hidden = true;
    showError($("case-error"), err);
  } finally {
    button.disabled = false;
  }
}

function renderCase(data) {
  currentCase = data;
  const now = Date.now();
  document.title = `Case for ${data.subject_id} · bioauth review console`;
  $("case-title").textContent = `Case for subject ${data.subject_id}`;
  $("case-facts").replaceChildren(
    ...[
      ["Subject", data.subject_id],
      ["Device", data.device_id || "unknown"],
      ["Received", `${formatTime(data.created_at)} (${formatAge(data.created_at, now)} ago)`],
      ["Status", statusText(data.status)],
      ["Case id", data.id],
    ].map(([term, value]) => el("div", { className: term === "Case id" ? "fact fact-id" : "fact" }, el("dt", {}, term), el("dd", {}, value))),
  );

  const reasons = (data.decision && data.decision.reasons) || [];
  $("case-reasons").replaceChildren(
    ...(reasons.length
      ? reasons.map((r) => el("li", {}, reasonText(r), " ", el("code", { className: "code" }, r)))
      : [el("li", {}, "The service gave no reason.")]),
  );

  renderImages(data.images || {}, now);
  renderReferences(data.references || {});
  renderSteps(data.steps || {});
  renderVerdict(data);
  $("case-body").hidden = false;
}

function renderImages(images, now) {
  const expiry = earliestExpiry(images);
  $("case-expiry").textContent =
    expiry === null
      ? "Image links are short-lived: reload the case if an image does not load."
      : expiry > now
        ? `Image links work until ${new Date(expiry).toLocaleTimeString()} (about ${Math.max(1, Math.round((expiry - now) / 60000))} min). Reload the case for fresh links.`
        : "The image links have expired. Reload the case for fresh links.";
  const slots = imageSlots(images);
  $("case-images").replaceChildren(
    ...(slots.length
      ? slots.map((slot) => imageFigure(slot))
      : [el("p", { className: "empty" }, "This case has no images.")]),
  );
}

// The subject's enrolled references, beside the probe: each link is signed for this reviewer and audited.
function renderReferences(references) {
  const faces = (references.face || []).map((url, i) => ({ key: "reference-face", title: `Enrolled face ${i + 1}`, url }));
  const signatures = (references.signature || []).map((url, i) => ({
    key: "signature reference-signature", title: `Reference signature ${i + 1}`, url,
  }));
  const notes = [];
  if (!faces.length) {
    notes.push(el("p", { className: "empty" }, references.face_photos_retained === false
      ? "No enrolment photos: this service does not retain them. Judge the face from the step figures."
      : "No enrolment photos for this subject."));
  }
  if (!signatures.length) notes.push(el("p", { className: "empty" }, "No reference signatures for this subject."));
  $("case-references").replaceChildren(...faces.map(imageFigure), ...signatures.map(imageFigure), ...notes);
}

function imageFigure({ key, title, url }) {
  const frame = el("div", { className: "image-frame" });
  const img = el("img", { alt: title, decoding: "async", referrerPolicy: "no-referrer" });
  img.addEventListener("error", () => {
    frame.replaceChildren(
      el("p", { className: "image-missing" }, "This image could not be loaded. Its link may have expired: reload the case."),
    );
  });
  img.src = url;
  frame.append(img);
  return el(
    "figure",
    { className: `image image-${key}` },
    frame,
    el(
      "figcaption",
      {},
      el("span", {}, title),
      el("a", { href: url, target: "_blank", rel: "noopener noreferrer", className: "open-link" }, "Open full size",
        el("span", { className: "visually-hidden" }, ` (${title}, new tab)`)),
    ),
  );
}

function renderSteps(steps) {
  const summary = summariseSteps(steps);
  $("case-steps").replaceChildren(
    ...(summary.length
      ? summary.map((step) =>
        el(
          "article",
          { className: `step step-${step.name}`, "aria-label": step.title },
          el("h3", {}, step.title, step.durationMs !== null ? el("span", { className: "duration" }, formatDuration(step.durationMs)) : ""),
          step.figures.length
            ? el("dl", { className: "figures" }, step.figures.map(figureRow))
            : el("p", { className: "hint" }, "No figures recorded."),
        ),
      )
      : [el("p", { className: "empty" }, "No step has recorded a result yet.")]),
  );
}

function figureRow(f) {
  return el(
    "div",
    { className: `figure${f.tone ? ` tone-${f.tone}` : ""}` },
    el("dt", {}, f.label),
    el("dd", {}, el("span", { className: "value" }, f.value), f.scale ? scaleBar(f.scale) : ""),
  );
}

/** A bar from min to max with the uncertain band shaded and a marker at the value. */
function scaleBar(scale) {
  const pos = scalePositions(scale.value, scale);
  if (pos.value === null) return "";
  const band = el("span", { className: "scale-band" });
  if (pos.lo !== null || pos.hi !== null) {
    const left = pos.lo ?? 0;
    const right = pos.hi ?? 100;
    band.style.left = `${Math.min(left, right)}%`;
    band.style.width = `${Math.abs(right - left)}%`;
  } else {
    band.hidden = true;
  }
  const marker = el("span", { className: "scale-marker" });
  marker.style.left = `${pos.value}%`;
  const describe = [
    `value ${formatNumber(scale.value)} on a scale from ${formatNumber(scale.min, 1)} to ${formatNumber(scale.max, 1)}`,
    typeof scale.lo === "number" ? `${scale.loLabel} ${formatNumber(scale.lo)}` : "",
    typeof scale.hi === "number" ? `${scale.hiLabel} ${formatNumber(scale.hi)}` : "",
  ].filter(Boolean).join("; ");
  return el(
    "span",
    { className: `scale${scale.lowerIsBetter ? " lower-better" : ""}`, role: "img", "aria-label": describe, title: describe },
    band,
    marker,
  );
}

// --- verdict ----------------------------------------------------------------------------------

function renderVerdict(data) {
  const open = data.status === "review";
  $("verdict-form").hidden = !open;
  closeConfirm(false);
  hideNotice($("verdict-error"));
  for (const id of ["verdict-note-error", "verdict-presentation-error"]) $(id).textContent = "";
  updateNoteCount();
  if (open) {
    hideNotice($("case-closed"));
    return;
  }
  const review = data.review || {};
  const by = data.decision && data.decision.by === "reviewer" ? ` by ${review.reviewer || "a reviewer"}` : "";
  showNotice(
    $("case-closed"),
    `This case is closed: ${statusText(data.status)}${by}${review.reviewed_at ? ` at ${formatTime(review.reviewed_at)}` : ""}.`,
    review.note ? `Note: ${review.note}` : "",
  );
}

function selectedPresentation() {
  const checked = $("verdict-presentation").querySelector("input[name=presentation]:checked");
  return checked ? checked.value : "";
}

function setPresentation(value) {
  for (const input of $("verdict-presentation").querySelectorAll("input[name=presentation]")) input.checked = input.value === value;
}

function updateNoteCount() {
  $("verdict-note-count").textContent = `${$("verdict-note").value.length} of ${LIMITS.note} characters`;
}

function openConfirm(verdict) {
  pendingVerdict = verdict;
  const subject = currentCase ? currentCase.subject_id : "";
  $("verdict-confirm-text").textContent =
    verdict === "accept"
      ? `Accept: you confirm this is ${subject}, a live person, with a genuine signature.`
      : `Reject: you find this is not ${subject}, not a live person, or not a genuine signature.`;
  const confirm = $("verdict-confirm-button");
  confirm.textContent = verdict === "accept" ? "Confirm accept" : "Confirm reject";
  confirm.className = `button ${verdict}`;
  $("verdict-choose").hidden = true;
  $("verdict-confirm").hidden = false;
  hideNotice($("verdict-error"));
  $("verdict-confirm-text").focus();
}

function closeConfirm(refocus = true) {
  const verdict = pendingVerdict;
  pendingVerdict = null;
  $("verdict-confirm").hidden = true;
  $("verdict-choose").hidden = false;
  if (refocus && verdict) $("verdict-choose").querySelector(`[data-verdict=${verdict}]`).focus();
}

async function onVerdictSubmit(event) {
  event.preventDefault();
  if (!pendingVerdict || !currentCase) return;
  const built = buildVerdictRequest({
    verdict: pendingVerdict,
    note: $("verdict-note").value,
    presentation: selectedPresentation(),
  });
  $("verdict-note-error").textContent = built.ok ? "" : built.errors.note || "";
  $("verdict-presentation-error").textContent = built.ok ? "" : built.errors.presentation || "";
  if (!built.ok) {
    closeConfirm(false);
    if (built.errors.presentation) $("verdict-presentation").querySelector("input:checked").focus();
    else $("verdict-note").focus();
    return;
  }
  const buttons = $("verdict-form").querySelectorAll("button");
  buttons.forEach((b) => (b.disabled = true));
  const id = currentCase.id;
  const subject = currentCase.subject_id;
  try {
    const closed = await api.postVerdict(id, built.body);
    flashMessage = `Case for subject ${subject} ${closed.status || (built.body.verdict === "accept" ? "accepted" : "rejected")}. Thank you.`;
    $("verdict-note").value = "";
    setPresentation("");
    window.location.hash = "#/";
  } catch (err) {
    closeConfirm(false);
    showError($("verdict-error"), err);
    if (err.code === "not_in_review") {
      $("verdict-choose").hidden = true; // closed: nothing left to decide here
      $("verdict-error").append(el("p", {}, el("a", { href: "#/", className: "button subtle" }, "Back to the inbox")));
    }
    $("verdict-error").focus();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

// A accepts, R rejects (each still asks for confirmation), outside text fields and only on an open case.
function onVerdictKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey || event.repeat) return;
  const key = event.key.toLowerCase();
  const verdict = key === "a" ? "accept" : key === "r" ? "reject" : null;
  if (!verdict || $("view-case").hidden || $("case-body").hidden || $("verdict-form").hidden) return;
  if (event.target.closest("input, textarea, select, [contenteditable]") || $("verdict-choose").hidden) return;
  event.preventDefault();
  openConfirm(verdict);
}

// --- start ------------------------------------------------------------------------------------

function start() {
  $("sign-in-form").addEventListener("submit", onSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("inbox-refresh").addEventListener("click", loadInbox);
  $("case-reload").addEventListener("click", () => currentCase ? loadCase(currentCase.id) : route());
  $("verdict-form").addEventListener("submit", onVerdictSubmit);
  $("verdict-choose").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-verdict]");
    if (button) openConfirm(button.dataset.verdict);
  });
  $("verdict-cancel").addEventListener("click", () => closeConfirm());
  $("verdict-confirm").addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeConfirm();
  });
  $("verdict-note").addEventListener("input", updateNoteCount);
  document.addEventListener("keydown", onVerdictKey);
  $("verdict-error").tabIndex = -1;
  window.addEventListener("hashchange", route);
  route();
}

start();
