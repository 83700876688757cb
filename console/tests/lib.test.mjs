// The console's logic, checked with Node's built-in test runner: node --test console/tests/
import assert from "node:assert/strict";
import test from "node:test";

import {
  ApiError,
  buildVerdictRequest,
  checkReviewer,
  caseHash,
  createApiClient,
  createSession,
  describeError,
  earliestExpiry,
  formatAge,
  formatDuration,
  formatNumber,
  formatPercent,
  formatTime,
  imageSlots,
  linkExpiry,
  parseRoute,
  reasonTag,
  reasonText,
  scalePositions,
  statusText,
  summariseSteps,
  validateSignIn,
} from "../lib.js";

const NOW = Date.parse("2026-11-22T12:00:00.000+00:00");

test("every reason the decide step sends to review has a sentence; unknown codes are shown as they are", () => {
  for (const code of ["liveness_uncertain", "face_uncertain", "signature_forged", "signature_uncertain"]) {
    assert.notEqual(reasonText(code), code, code);
    assert.match(reasonText(code), /\.$/);
    assert.notEqual(reasonTag(code), code, code);
  }
  assert.equal(reasonText("brand_new_reason"), "brand_new_reason");
  assert.equal(reasonTag("brand_new_reason"), "brand_new_reason");
  assert.equal(reasonText("toString"), "toString"); // not an inherited property
  assert.equal(reasonText("__proto__"), "__proto__");
});

test("statuses read as words", () => {
  assert.equal(statusText("review"), "waiting for review");
  assert.equal(statusText("mystery"), "mystery");
  assert.equal(statusText(undefined), "unknown");
});

test("ages are short and never negative", () => {
  const ago = (ms) => new Date(NOW - ms).toISOString();
  assert.equal(formatAge(ago(10_000), NOW), "just now");
  assert.equal(formatAge(ago(4 * 60_000 + 5_000), NOW), "4 min");
  assert.equal(formatAge(ago(125 * 60_000), NOW), "2 h 5 min");
  assert.equal(formatAge(ago(120 * 60_000), NOW), "2 h");
  assert.equal(formatAge(ago(26 * 3600_000), NOW), "1 day");
  assert.equal(formatAge(ago(3 * 86400_000), NOW), "3 days");
  assert.equal(formatAge(new Date(NOW + 60_000).toISOString(), NOW), "just now"); // clock skew
  assert.equal(formatAge("2026-11-22T11:30:00.123+00:00", NOW), "29 min"); // the API's own format
  assert.equal(formatAge("not a time", NOW), "unknown");
  assert.equal(formatAge(undefined, NOW), "unknown");
});

test("times are shown in UTC, to the minute", () => {
  assert.equal(formatTime("2026-11-22T04:20:45.123+00:00"), "2026-11-22 04:20 UTC");
  assert.equal(formatTime("2026-11-22T06:20:45+02:00"), "2026-11-22 04:20 UTC");
  assert.equal(formatTime(null), "unknown");
});

test("numbers, percentages and durations", () => {
  assert.equal(formatNumber(0.51999), "0.520");
  assert.equal(formatNumber(0.5, 1), "0.5");
  assert.equal(formatNumber(undefined), "–");
  assert.equal(formatNumber(Number.NaN), "–");
  assert.equal(formatNumber("0.5"), "–"); // strings are not silently trusted as scores
  assert.equal(formatPercent(0.834), "83 %");
  assert.equal(formatPercent(null), "–");
  assert.equal(formatDuration(12.4), "12 ms");
  assert.equal(formatDuration(1540), "1.5 s");
  assert.equal(formatDuration(null), "");
});

test("scale positions are percentages clamped to the bar", () => {
  assert.deepEqual(scalePositions(0.5, { min: 0, max: 1, lo: 0.3, hi: 0.8 }), { value: 50, lo: 30, hi: 80 });
  assert.deepEqual(scalePositions(2, { min: 0, max: 1 }), { value: 100, lo: null, hi: null });
  assert.deepEqual(scalePositions(-1, { min: 0, max: 1, lo: undefined, hi: 0.6 }), { value: 0, lo: null, hi: 60 });
  assert.equal(scalePositions(undefined).value, null);
});

const STEPS = {
  decide: { result: { outcome: "review", reasons: ["liveness_uncertain", "signature_uncertain"] }, duration_ms: 0.4 },
  signature: {
    result: { label: "uncertain", score: 0.52, thresholds: { genuine: 0.7, forged: 0.35 }, distances: [0.4, 0.45], distance: 0.42, rule: "mean_over_spread" },
    duration_ms: 80,
  },
  "face-match": {
    result: { distance: 0.41, similarity: 0.83, threshold: 0.6, is_match: true, strict_threshold: 0.45, band: "strong" },
    duration_ms: 55,
  },
  antispoof: { result: { label: "uncertain", score: 0.58, thresholds: { live: 0.8, spoof: 0.3 } }, duration_ms: 35 },
  "face-crop": { result: { reason: null, faces_found: 1, detection: { score: 0.92, inter_eye_px: 61.4 } }, duration_ms: 15 },
  "new-step": { result: { widget: 0.123456, ok: true, nested: { hidden: 1 } }, duration_ms: 3 },
};

const byLabel = (step) => Object.fromEntries(step.figures.map((f) => [f.label, f]));

test("steps come in pipeline order, unknown steps last", () => {
  const names = summariseSteps(STEPS).map((s) => s.name);
  assert.deepEqual(names, ["face-crop", "antispoof", "face-match", "signature", "decide", "new-step"]);
  assert.deepEqual(summariseSteps(undefined), []);
});

test("antispoof figures: label, probability of live with both thresholds on its scale", () => {
  const step = summariseSteps(STEPS).find((s) => s.name === "antispoof");
  const f = byLabel(step);
  assert.equal(step.durationMs, 35);
  assert.equal(f.Result.value, "uncertain");
  assert.equal(f.Result.tone, "warn");
  assert.equal(f["Probability of live"].value, "0.580");
  assert.equal(f["Probability of live"].scale.lo, 0.3);
  assert.equal(f["Probability of live"].scale.hi, 0.8);
  assert.equal(f.Thresholds.value, "spoof ≤ 0.300 · live ≥ 0.800");
});

test("face-match figures: distance, threshold, similarity", () => {
  const f = byLabel(summariseSteps(STEPS).find((s) => s.name === "face-match"));
  assert.equal(f.Result.value, "match");
  assert.equal(f["Distance (lower is closer)"].value, "0.410");
  assert.equal(f["Distance (lower is closer)"].scale.hi, 0.6);
  assert.equal(f.Threshold.value, "0.600");
  assert.equal(f.Similarity.value, "83 %");
  const miss = byLabel(summariseSteps({ "face-match": { result: { distance: 0.9, threshold: 0.6, is_match: false } } })[0]);
  assert.equal(miss.Result.value, "no match");
  assert.equal(miss.Result.tone, "bad");
  assert.ok(miss["Distance (lower is closer)"].scale.max >= 0.9); // the bar always holds the value
});

test("face-match figures: cosine score against the bands", () => {
  const result = { score: 0.38, band: "review", accept_at: 0.42, review_at: 0.324, model: "face_sface", model_version: "1.0.0" };
  const f = byLabel(summariseSteps({ "face-match": { result } })[0]);
  assert.equal(f.Result.value, "review");
  assert.equal(f.Result.tone, "warn");
  assert.equal(f["Cosine similarity (higher is closer)"].value, "0.380");
  assert.equal(f["Cosine similarity (higher is closer)"].scale.hi, 0.42);
  assert.equal(f["Cosine similarity (higher is closer)"].scale.lo, 0.324);
  assert.equal(f.Model.value, "face_sface 1.0.0");
});

test("signature figures: label, score, thresholds, distances, rule", () => {
  const f = byLabel(summariseSteps(STEPS).find((s) => s.name === "signature"));
  assert.equal(f.Result.value, "uncertain");
  assert.equal(f["Score (higher is more likely genuine)"].value, "0.520");
  assert.equal(f.Thresholds.value, "forged ≤ 0.350 · genuine ≥ 0.700");
  assert.equal(f["Distances to enrolled signatures"].value, "0.400, 0.450");
  assert.equal(f.Rule.value, "mean over spread");
});

test("face detection and decision figures; an unknown step shows its plain values only", () => {
  const steps = summariseSteps(STEPS);
  const crop = byLabel(steps[0]);
  assert.equal(crop["Faces found"].value, "1");
  assert.equal(crop["Distance between the eyes"].value, "61 px");
  const bad = byLabel(summariseSteps({ "face-crop": { result: { reason: "multiple_faces", faces_found: 2 } } })[0]);
  assert.equal(bad.Problem.value, reasonText("multiple_faces"));
  const decision = byLabel(steps.find((s) => s.name === "decide"));
  assert.equal(decision.Reasons.value, "Liveness uncertain, Signature uncertain");
  const other = steps.find((s) => s.name === "new-step");
  assert.equal(other.title, "new-step");
  assert.deepEqual(other.figures.map((x) => [x.label, x.value]), [["widget", "0.1235"], ["ok", "true"]]);
});

test("a step without a result yet shows no figures rather than failing", () => {
  const [step] = summariseSteps({ antispoof: { result: null } });
  assert.equal(byLabel(step).Result.value, "–");
  assert.equal(byLabel(step)["Probability of live"].value, "–");
});

test("images come in a fixed order with titles; unknown ones follow", () => {
  const slots = imageSlots({ signature: "s", zeta_extra: "z", face: "f", face_chip: "c", face_context: "x", bad: 3 });
  assert.deepEqual(slots.map((s) => s.key), ["face", "face_context", "face_chip", "signature", "zeta_extra"]);
  assert.equal(slots[0].title, "Face photo");
  assert.equal(slots[4].title, "zeta extra");
  assert.deepEqual(imageSlots(undefined), []);
});

test("link expiry is read from the API's own links and from Azure SAS links", () => {
  assert.equal(linkExpiry("http://127.0.0.1:7071/api/v1/blobs/images/a.png?expires=1795321000&sig=ab"), 1795321000 * 1000);
  assert.equal(linkExpiry("https://acct.blob.core.windows.net/images/a.png?sv=2024&se=2026-11-22T05%3A00%3A00Z&sig=x"),
    Date.parse("2026-11-22T05:00:00Z"));
  assert.equal(linkExpiry("https://example.org/a.png"), null);
  assert.equal(linkExpiry("/relative/a.png?expires=12x"), null);
  assert.equal(earliestExpiry({ a: "/x?expires=200", b: "/y?expires=100", c: "/z" }), 100_000);
  assert.equal(earliestExpiry({}), null);
});

test("sign-in needs a key without spaces, and no name: the key names the reviewer", () => {
  assert.deepEqual(validateSignIn({ key: "  abc  ", reviewer: " Mallory " }), { ok: true, value: { key: "abc" } });
  const empty = validateSignIn({ key: "" });
  assert.equal(empty.ok, false);
  assert.ok(empty.errors.key);
  assert.ok(validateSignIn({ key: "a b" }).errors.key);
});

test("only a reviewer's key may sign in; the name is the one the key carries", () => {
  assert.deepEqual(checkReviewer({ id: "dana", role: "reviewer", name: "Dana" }), { ok: true, name: "Dana" });
  assert.match(checkReviewer({ id: "kiosk-1", role: "device", name: "kiosk-1" }).message, /belongs to a device, not a reviewer/);
  assert.match(checkReviewer({ id: "olivia", role: "operator", name: "Olivia" }).message, /operator/);
  assert.equal(checkReviewer(null).ok, false);
  assert.equal(checkReviewer({ role: "reviewer" }).ok, false);
});

test("the verdict request is built as the API checks it", () => {
  assert.deepEqual(buildVerdictRequest({ verdict: "accept", note: "  same person " }), {
    ok: true,
    body: { verdict: "accept", note: "same person" },
  });
  assert.equal(buildVerdictRequest({ verdict: "reject", note: undefined }).body.note, "");
  assert.ok(buildVerdictRequest({ verdict: "maybe" }).errors.verdict);
  assert.equal("reviewer" in buildVerdictRequest({ verdict: "accept", reviewer: "Mallory" }).body, false); // never sent
  assert.ok(buildVerdictRequest({ verdict: "accept", note: "x".repeat(2001) }).errors.note);
  assert.equal(buildVerdictRequest({ verdict: "accept", note: "x".repeat(2000) }).ok, true);
});

test("what the reviewer saw is sent only when judged, and an attack cannot be accepted", () => {
  const base = { note: "" };
  assert.equal("presentation" in buildVerdictRequest({ ...base, verdict: "accept" }).body, false);
  assert.equal(buildVerdictRequest({ ...base, verdict: "accept", presentation: "bona_fide" }).body.presentation, "bona_fide");
  assert.equal(buildVerdictRequest({ ...base, verdict: "reject", presentation: "attack" }).body.presentation, "attack");
  assert.ok(buildVerdictRequest({ ...base, verdict: "accept", presentation: "attack" }).errors.presentation);
  assert.ok(buildVerdictRequest({ ...base, verdict: "reject", presentation: "print" }).errors.presentation);
});

/** A fetch that records its calls and answers from a list. */
function fakeFetch(answers) {
  const calls = [];
  const fn = async (url, init) => {
    calls.push({ url, init });
    const next = answers.shift();
    if (next instanceof Error) throw next;
    return {
      ok: next.status >= 200 && next.status < 300,
      status: next.status,
      text: async () => (typeof next.body === "string" ? next.body : JSON.stringify(next.body)),
    };
  };
  fn.calls = calls;
  return fn;
}

test("the client sends the key as a bearer credential, never in the URL, and escapes ids", async () => {
  const fetch = fakeFetch([{ status: 200, body: { cases: [], count: 0 } }, { status: 200, body: { id: "a/b" } }]);
  const api = createApiClient({ fetch, getKey: () => "secret-key" });
  assert.deepEqual(await api.listCases(50), { cases: [], count: 0 });
  await api.getCase("a/b?x");
  assert.equal(fetch.calls[0].url, "/api/v1/reviews?limit=50");
  assert.equal(fetch.calls[0].init.method, "GET");
  assert.equal(fetch.calls[0].init.headers.Authorization, "Bearer secret-key");
  assert.equal("x-functions-key" in fetch.calls[0].init.headers, false);
  assert.equal(fetch.calls[1].url, "/api/v1/reviews/a%2Fb%3Fx");
  for (const call of fetch.calls) assert.ok(!call.url.includes("secret-key"));
});

test("the client posts the verdict as JSON", async () => {
  const fetch = fakeFetch([{ status: 200, body: { id: "v1", status: "accepted" } }]);
  const api = createApiClient({ fetch, getKey: () => "k", baseUrl: "https://bioauth.example" });
  const body = buildVerdictRequest({ verdict: "accept", note: "ok" }).body;
  assert.equal((await api.postVerdict("v1", body)).status, "accepted");
  const [call] = fetch.calls;
  assert.equal(call.url, "https://bioauth.example/api/v1/reviews/v1");
  assert.equal(call.init.method, "POST");
  assert.equal(call.init.headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(call.init.body), { verdict: "accept", note: "ok" });
});

test("API errors keep their status and code; a 409 says someone else closed the case", async () => {
  const fetch = fakeFetch([
    { status: 409, body: { error: { code: "not_in_review", message: "the case was closed meanwhile" } } },
    { status: 401, body: { error: { code: "revoked_credential", message: "the credential was revoked" } } },
    { status: 403, body: { error: { code: "forbidden_role", message: "a device may not do this" } } },
    { status: 429, body: { error: { code: "rate_limited", message: "too many requests for this key: slow down" } } },
    { status: 502, body: "<html>Bad gateway</html>" },
    new TypeError("Failed to fetch"),
    { status: 200, body: "" },
  ]);
  const api = createApiClient({ fetch, getKey: () => "k" });
  const conflict = await api.postVerdict("v1", { verdict: "accept" }).catch((e) => e);
  assert.ok(conflict instanceof ApiError);
  assert.equal(conflict.status, 409);
  assert.equal(conflict.code, "not_in_review");
  assert.match(describeError(conflict).title, /someone else/);
  assert.match(describeError(conflict).detail, /closed meanwhile/);

  const unauthorized = await api.listCases().catch((e) => e);
  assert.equal(unauthorized.code, "revoked_credential");
  assert.match(describeError(unauthorized).title, /has been revoked/);

  const forbidden = await api.listCases().catch((e) => e);
  assert.equal(forbidden.status, 403);
  assert.match(describeError(forbidden).title, /may not review/);

  const limited = await api.listCases().catch((e) => e);
  assert.equal(limited.status, 429);
  assert.match(describeError(limited).title, /Wait a moment/);

  const gateway = await api.listCases().catch((e) => e);
  assert.equal(gateway.status, 502);
  assert.equal(gateway.code, "http_502");

  const offline = await api.listCases().catch((e) => e);
  assert.equal(offline.code, "network");
  assert.equal(offline.status, 0);

  const empty = await api.listCases().catch((e) => e);
  assert.equal(empty.code, "bad_response");
});

test("an unexpected API error shows the API's own message", () => {
  const e = new ApiError(400, "invalid_field", "'verdict' must be 'accept' or 'reject'");
  assert.equal(describeError(e).title, "'verdict' must be 'accept' or 'reject'");
  assert.equal(describeError(e).detail, "invalid_field");
  assert.match(describeError(new Error("boom")).detail, /boom/);
});

test("routes: the inbox by default, a case by its escaped id", () => {
  assert.deepEqual(parseRoute(""), { view: "inbox" });
  assert.deepEqual(parseRoute("#/"), { view: "inbox" });
  assert.deepEqual(parseRoute("#/cases/abc123"), { view: "case", id: "abc123" });
  assert.deepEqual(parseRoute(caseHash("a b/c")), { view: "case", id: "a b/c" });
  assert.deepEqual(parseRoute("#/cases/%E0%A4%A"), { view: "inbox" }); // malformed escape
  assert.deepEqual(parseRoute("#/cases/a/b"), { view: "inbox" });
});

test("the session lives in the given storage and sign-out forgets the key and name", () => {
  const data = new Map();
  const storage = { getItem: (k) => (data.has(k) ? data.get(k) : null), setItem: (k, v) => data.set(k, String(v)), removeItem: (k) => data.delete(k) };
  const session = createSession(storage);
  assert.equal(session.signedIn(), false);
  session.signIn({ key: "k1", reviewer: "Dana" });
  assert.equal(session.signedIn(), true);
  assert.equal(session.key(), "k1");
  assert.equal(session.reviewer(), "Dana");
  session.signOut();
  assert.equal(session.signedIn(), false);
  assert.equal(session.key(), "");
  assert.equal(data.size, 0);
});
