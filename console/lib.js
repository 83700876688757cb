// The review console's logic without the page: labels, formatting, validation and the API client.
// Pure functions only (no DOM, no globals), so Node's test runner can check them.

/** Why a case came to review (or was decided), in plain words. Unknown codes are shown as they are. */
export const REASON_TEXT = Object.freeze({
  liveness_uncertain: "Liveness is uncertain: the photo may be of a printed picture, a screen or a mask.",
  face_uncertain: "The face is close to the match threshold: it may or may not be the enrolled person.",
  signature_forged: "The signature looks forged, although the face matches.",
  signature_uncertain: "The signature is uncertain: neither clearly genuine nor clearly forged.",
  spoof_detected: "A presentation attack was detected (photo, screen or mask).",
  spoof_suspected: "The anti-spoofing model says spoof; this deployment sends such cases to a person instead of rejecting them.",
  face_mismatch: "The face does not match the enrolled person.",
  no_face: "No face was found in the photo.",
  multiple_faces: "More than one face is in the photo.",
  face_too_small: "The face is too small in the photo.",
  face_cut_off: "The face is cut off by the edge of the photo.",
  retake_too_small: "The face has too few pixels to judge: the device was asked for another photo, closer.",
  retake_dark: "The face is too dark to judge: the device was asked for another photo.",
  retake_bright: "The face is too bright to judge: the device was asked for another photo.",
  retake_blurred: "The photo is too blurred to judge: the device was asked for another photo.",
  retake_pose: "The head is turned too far to judge: the device was asked for another photo.",
  low_face_score: "The face detector was not confident there is a face.",
  no_face_references: "The subject has no enrolled face to compare with.",
  not_enough_references: "The subject has too few enrolled signatures to compare with.",
  invalid_signature_references: "The subject's enrolled signatures could not be used.",
  face_match: "The face matches the enrolled person.",
  signature_genuine: "The signature looks genuine.",
  live_face: "The face is live.",
  reviewer_accept: "A reviewer accepted the case.",
  reviewer_reject: "A reviewer rejected the case.",
});

/** Short tags for the inbox. */
export const REASON_TAG = Object.freeze({
  liveness_uncertain: "Liveness uncertain",
  face_uncertain: "Face near threshold",
  signature_forged: "Signature forged?",
  signature_uncertain: "Signature uncertain",
  spoof_detected: "Spoof",
  spoof_suspected: "Spoof suspected",
  face_mismatch: "Face mismatch",
});

const STATUS_TEXT = {
  review: "waiting for review",
  accepted: "accepted",
  rejected: "rejected",
  failed: "failed",
  queued: "queued",
  processing: "processing",
};

/** A record's status in words. */
export function statusText(status) {
  return Object.hasOwn(STATUS_TEXT, status) ? STATUS_TEXT[status] : String(status ?? "unknown");
}

export function reasonText(code) {
  return Object.hasOwn(REASON_TEXT, code) ? REASON_TEXT[code] : String(code);
}

export function reasonTag(code) {
  return Object.hasOwn(REASON_TAG, code) ? REASON_TAG[code] : String(code);
}

/** A timestamp from the API (ISO 8601, UTC) in milliseconds, or NaN. */
export function parseTime(iso) {
  if (typeof iso !== "string" || iso === "") return NaN;
  return Date.parse(iso);
}

/** How long a case has waited, for people: "just now", "4 min", "2 h 5 min", "3 days". */
export function formatAge(createdIso, nowMs) {
  const created = parseTime(createdIso);
  if (Number.isNaN(created)) return "unknown";
  const minutes = Math.floor(Math.max(0, nowMs - created) / 60000);
  if (minutes < 1) return "just now";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return days === 1 ? "1 day" : `${days} days`;
}

/** A UTC timestamp as "2026-11-22 04:20 UTC" (no locale surprises between reviewers). */
export function formatTime(iso) {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return "unknown";
  return new Date(t).toISOString().slice(0, 16).replace("T", " ") + " UTC";
}

/** A number with a fixed count of decimals, or an en dash when there is none. */
export function formatNumber(value, digits = 3) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return value.toFixed(digits);
}

export function formatPercent(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  return `${Math.round(value * 100)} %`;
}

export function formatDuration(ms) {
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "";
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/**
 * Where a value sits on a scale, for the bar drawn beside a score: positions in percent of the bar.
 * `lo` and `hi` are the thresholds that bound the uncertain band (either may be missing).
 */
export function scalePositions(value, { min = 0, max = 1, lo, hi } = {}) {
  const span = max - min || 1;
  const at = (v) => (typeof v === "number" && Number.isFinite(v) ? Math.min(100, Math.max(0, ((v - min) / span) * 100)) : null);
  return { value: at(value), lo: at(lo), hi: at(hi) };
}

/** A figure shown for a step: a label, the value as text, and an optional scale. */
function figure(label, value, extra = {}) {
  return { label, value, ...extra };
}

const STEP_TITLES = {
  "face-crop": "Face detection",
  antispoof: "Liveness (anti-spoofing)",
  "face-match": "Face match",
  signature: "Signature",
  decide: "Decision",
  review: "Sent to review",
};

const STEP_ORDER = ["face-crop", "antispoof", "face-match", "signature", "decide", "review"];

function antispoofFigures(r) {
  const t = r.thresholds || {};
  return [
    figure("Result", r.label ?? "–", { tone: r.label === "live" ? "good" : r.label === "spoof" ? "bad" : "warn" }),
    figure("Probability of live", formatNumber(r.score), {
      scale: { value: r.score, min: 0, max: 1, lo: t.spoof, hi: t.live, loLabel: "spoof at or below", hiLabel: "live at or above" },
    }),
    figure("Thresholds", `spoof ≤ ${formatNumber(t.spoof)} · live ≥ ${formatNumber(t.live)}`),
    ...(r.member_scores
      ? [figure("Each network", Object.entries(r.member_scores).map(([name, v]) => `${name} ${formatNumber(v)}`).join(" · "))]
      : []),
    ...(r.model_version ? [figure("Model", r.model_version)] : []),
  ];
}

function faceMatchFigures(r) {
  if (typeof r.score === "number") return faceScoreFigures(r);
  const figures = [
    figure("Result", r.is_match === true ? "match" : r.is_match === false ? "no match" : "–", {
      tone: r.is_match === true ? (r.band === "weak" ? "warn" : "good") : r.is_match === false ? "bad" : undefined,
    }),
  ];
  if (r.band) figures.push(figure("Band", r.band.replace(/_/g, " ")));
  const max = Math.max(1, (Number(r.distance) || 0) * 1.1, (Number(r.threshold) || 0) * 1.5);
  figures.push(
    figure("Distance (lower is closer)", formatNumber(r.distance), {
      scale: { value: r.distance, min: 0, max, lo: r.strict_threshold ?? undefined, hi: r.threshold, loLabel: "strong match below", hiLabel: "threshold", lowerIsBetter: true },
    }),
    figure("Threshold", formatNumber(r.threshold)),
  );
  if (typeof r.strict_threshold === "number") figures.push(figure("Strict threshold", formatNumber(r.strict_threshold)));
  figures.push(figure("Similarity", formatPercent(r.similarity)));
  return figures;
}

/** Cosine score against the calibrated bands (accept at or above, review from, reject below). */
function faceScoreFigures(r) {
  const tone = r.band === "accept" ? "good" : r.band === "review" ? "warn" : r.band === "reject" ? "bad" : undefined;
  return [
    figure("Result", r.band ?? "–", { tone }),
    figure("Cosine similarity (higher is closer)", formatNumber(r.score), {
      scale: { value: r.score, min: -0.2, max: 1, lo: r.review_at, hi: r.accept_at, loLabel: "reject below", hiLabel: "accept at or above" },
    }),
    figure("Bands", `review ≥ ${formatNumber(r.review_at)} · accept ≥ ${formatNumber(r.accept_at)}`),
    figure("Model", [r.model, r.model_version].filter(Boolean).join(" ") || "–"),
  ];
}

function signatureFigures(r) {
  const t = r.thresholds || {};
  const figures = [
    figure("Result", r.label ?? r.reason ?? "–", { tone: r.label === "genuine" ? "good" : r.label === "forged" ? "bad" : "warn" }),
    figure("Score (higher is more likely genuine)", formatNumber(r.score), {
      scale: { value: r.score, min: 0, max: 1, lo: t.forged, hi: t.genuine, loLabel: "forged at or below", hiLabel: "genuine at or above" },
    }),
    figure("Thresholds", `forged ≤ ${formatNumber(t.forged)} · genuine ≥ ${formatNumber(t.genuine)}`),
  ];
  if (Array.isArray(r.distances) && r.distances.length) {
    figures.push(figure("Distances to enrolled signatures", r.distances.map((d) => formatNumber(d)).join(", ")));
  }
  if (r.rule) figures.push(figure("Rule", String(r.rule).replace(/_/g, " ")));
  return figures;
}

function faceCropFigures(r) {
  const figures = [];
  if (r.reason) figures.push(figure("Problem", reasonText(r.reason), { tone: "bad" }));
  if (typeof r.faces_found === "number") figures.push(figure("Faces found", String(r.faces_found)));
  const d = r.detection || {};
  if (typeof d.score === "number") figures.push(figure("Detector confidence", formatNumber(d.score, 2)));
  if (typeof d.inter_eye_px === "number") figures.push(figure("Distance between the eyes", `${Math.round(d.inter_eye_px)} px`));
  return figures;
}

function decideFigures(r) {
  return [
    figure("Outcome", r.outcome ?? "–"),
    figure("Reasons", (r.reasons || []).map(reasonTag).join(", ") || "–"),
  ];
}

function reviewFigures(r) {
  return [figure("Reviewer notification", String(r.status ?? "–").replace(/_/g, " "))];
}

/** Scalar values of an unknown step's result, so nothing new is hidden from the reviewer. */
function genericFigures(r) {
  return Object.entries(r)
    .filter(([, v]) => v === null || ["string", "number", "boolean"].includes(typeof v))
    .map(([k, v]) => figure(k.replace(/_/g, " "), typeof v === "number" ? String(Number(v.toFixed(4))) : String(v)));
}

const FIGURES = {
  "face-crop": faceCropFigures,
  antispoof: antispoofFigures,
  "face-match": faceMatchFigures,
  signature: signatureFigures,
  decide: decideFigures,
  review: reviewFigures,
};

/** Each step of a case as {name, title, durationMs, figures}, in pipeline order (unknown steps last). */
export function summariseSteps(steps) {
  const names = Object.keys(steps || {});
  names.sort((a, b) => {
    const ia = STEP_ORDER.indexOf(a), ib = STEP_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  return names.map((name) => {
    const entry = steps[name] || {};
    const result = entry.result && typeof entry.result === "object" ? entry.result : {};
    const make = FIGURES[name] || genericFigures;
    return { name, title: STEP_TITLES[name] || name, durationMs: entry.duration_ms ?? null, figures: make(result) };
  });
}

const IMAGE_TITLES = {
  face: "Face photo",
  face_context: "Context crop (what liveness saw)",
  face_chip: "Aligned face (what face match saw)",
  signature: "Signature",
};

/** The case's images in a fixed order, with titles; other images follow under their own names. */
export function imageSlots(images) {
  const all = images || {};
  const known = Object.keys(IMAGE_TITLES).filter((k) => typeof all[k] === "string");
  const others = Object.keys(all).filter((k) => !(k in IMAGE_TITLES) && typeof all[k] === "string").sort();
  return [...known, ...others].map((key) => ({ key, title: IMAGE_TITLES[key] || key.replace(/_/g, " "), url: all[key] }));
}

/**
 * When a short-lived image link stops working, in milliseconds: the API's own links carry `expires`
 * (Unix seconds), Azure SAS links carry `se` (ISO time). Null when the link says nothing.
 */
export function linkExpiry(url) {
  let params;
  try {
    params = new URL(url, "http://placeholder.invalid").searchParams;
  } catch {
    return null;
  }
  const expires = params.get("expires");
  if (expires && /^\d+$/.test(expires)) return Number(expires) * 1000;
  const se = parseTime(params.get("se") || "");
  return Number.isNaN(se) ? null : se;
}

/** The earliest expiry among the case's image links, or null. */
export function earliestExpiry(images) {
  const times = Object.values(images || {}).map(linkExpiry).filter((t) => t !== null);
  return times.length ? Math.min(...times) : null;
}

export const LIMITS = Object.freeze({ note: 2000 });

/**
 * The sign-in form: the reviewer's own key, required. Who the reviewer is comes from the key
 * (GET /api/v1/me), never from a name typed here. Returns {ok, value|errors}.
 */
export function validateSignIn({ key }) {
  const cleanKey = String(key ?? "").trim();
  if (!cleanKey) return { ok: false, errors: { key: "Enter your reviewer key." } };
  if (/\s/.test(cleanKey)) return { ok: false, errors: { key: "A reviewer key has no spaces." } };
  return { ok: true, value: { key: cleanKey } };
}

/** Whether the principal behind a key (GET /api/v1/me) may review; returns {ok, name|message}. */
export function checkReviewer(me) {
  if (me && me.role === "reviewer" && typeof me.name === "string" && me.name) return { ok: true, name: me.name };
  const role = me && typeof me.role === "string" ? me.role : "unknown";
  return { ok: false, message: `This key belongs to a ${role}, not a reviewer. Ask your administrator for a reviewer key.` };
}

/** The body of POST /api/v1/reviews/{id}, checked as the API will check it. Returns {ok, body|errors}. */
export const PRESENTATIONS = ["bona_fide", "attack"];

/** The verdict body, checked as the API checks it; `presentation` ("" when not judged) is what was in front of the camera. */
export function buildVerdictRequest({ verdict, note, presentation = "" }) {
  const errors = {};
  if (verdict !== "accept" && verdict !== "reject") errors.verdict = "Choose accept or reject.";
  const cleanNote = String(note ?? "").trim();
  if (cleanNote.length > LIMITS.note) errors.note = `The note can be at most ${LIMITS.note} characters (it has ${cleanNote.length}).`;
  if (presentation && !PRESENTATIONS.includes(presentation)) errors.presentation = "Choose what was in front of the camera.";
  else if (presentation === "attack" && verdict === "accept") {
    errors.presentation = "A presentation attack cannot be accepted: reject the case, or change what you saw.";
  }
  if (Object.keys(errors).length) return { ok: false, errors };
  const body = { verdict, note: cleanNote }; // the API names the reviewer from the key
  if (presentation) body.presentation = presentation;
  return { ok: true, body };
}

/** An error answered by the API ({error: {code, message}}) or met on the way (network, bad JSON). */
export class ApiError extends Error {
  constructor(status, code, message, details) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

/** The 401 causes the API names: the key is missing, mistyped, unknown here or revoked. */
export const CREDENTIAL_ERRORS = Object.freeze(["missing_credential", "malformed_credential", "unknown_credential", "revoked_credential"]);

const ERROR_TEXT = {
  missing_credential: "You are not signed in. Sign in with your reviewer key.",
  malformed_credential: "That is not a reviewer key (it may be cut short or mistyped). Sign out and sign in with a valid key.",
  unknown_credential: "Your reviewer key is not known here (mistyped, or made for another deployment). Sign out and sign in with a valid key.",
  revoked_credential: "Your reviewer key has been revoked. Ask your administrator for a new one.",
  forbidden_role: "This key may not review cases. Ask your administrator for a reviewer key.",
  rate_limited: "Too many requests in a short time. Wait a moment, then try again.",
  not_in_review: "This case is no longer waiting for review: someone else has closed it.",
  not_found: "This case does not exist (it may have been erased).",
  network: "The service could not be reached. Check the connection and try again.",
};

/** What to tell the reviewer about an error: a sentence, with the API's own message kept for detail. */
export function describeError(err) {
  if (err instanceof ApiError) {
    const text = ERROR_TEXT[err.code] || err.message || `The service answered ${err.status}.`;
    return { title: text, detail: err.code && ERROR_TEXT[err.code] && err.message ? `${err.message} (${err.code})` : err.code || "" };
  }
  return { title: "Something went wrong in the console.", detail: String(err && err.message ? err.message : err) };
}

/**
 * The API client. `fetch` is injected (the browser's in the page, a fake in tests) and `getKey` is read on
 * every call, so signing out takes effect at once. The key travels in a header, never in the URL.
 */
export function createApiClient({ fetch, getKey, baseUrl = "" }) {
  async function call(method, path, body) {
    const headers = { Accept: "application/json", Authorization: `Bearer ${getKey() || ""}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(baseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit",
        referrerPolicy: "no-referrer",
      });
    } catch (err) {
      throw new ApiError(0, "network", `network error: ${err && err.message ? err.message : err}`);
    }
    let data = null;
    const text = await response.text();
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const e = data && data.error ? data.error : {};
      throw new ApiError(response.status, e.code || `http_${response.status}`, e.message || `HTTP ${response.status}`, e.details);
    }
    if (data === null) throw new ApiError(response.status, "bad_response", "the service answered something that is not JSON");
    return data;
  }

  const casePath = (id) => `/api/v1/reviews/${encodeURIComponent(id)}`;
  return {
    whoami: () => call("GET", "/api/v1/me"),
    listCases: (limit = 50) => call("GET", `/api/v1/reviews?limit=${encodeURIComponent(limit)}`),
    getCase: (id) => call("GET", casePath(id)),
    postVerdict: (id, body) => call("POST", casePath(id), body),
  };
}

/** The view named by the address's fragment: the inbox, or one case. */
export function parseRoute(hash) {
  const path = String(hash || "").replace(/^#/, "");
  const match = /^\/cases\/([^/?#]+)$/.exec(path);
  if (match) {
    try {
      return { view: "case", id: decodeURIComponent(match[1]) };
    } catch {
      return { view: "inbox" };
    }
  }
  return { view: "inbox" };
}

export function caseHash(id) {
  return `#/cases/${encodeURIComponent(id)}`;
}

/** The reviewer's session: key and name (as the API names the key) in sessionStorage (gone when the tab closes), never in localStorage. */
export function createSession(storage) {
  const KEY = "bioauth.console.key";
  const NAME = "bioauth.console.reviewer";
  return {
    key: () => storage.getItem(KEY) || "",
    reviewer: () => storage.getItem(NAME) || "",
    signedIn: () => Boolean(storage.getItem(KEY)),
    signIn({ key, reviewer }) {
      storage.setItem(KEY, key);
      storage.setItem(NAME, reviewer);
    },
    signOut() {
      storage.removeItem(KEY);
      storage.removeItem(NAME);
    },
  };
}
