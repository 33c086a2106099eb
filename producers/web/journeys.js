/* Journey Tracker browser script: page views, clicks, errors and checkout steps to the collector.
 * Served by the collector at GET /v1/journeys.js; no build step, no dependencies.
 * Usage: journeys.init({key: "WRITE_KEY", touchpoints: {"/products": "web.product/product_view"}});
 * Sends only: a first-party anonymous id, the path and referrer (e-mail addresses, phone-like
 * numbers and PII-named query parameters removed), the declared context dimensions, and what the
 * page reports. Never raw e-mail addresses, never cookies other than its own id. */
(function (window, document) {
  "use strict";
  if (window.journeys && window.journeys.version) return;
  var ID_NAME = "journeys_aid", SESSION_NAME = "journeys_sid", YEAR_S = 31536000;
  var BATCH_MAX = 25;  // events per request: keepalive fetch and sendBeacon refuse bodies over 64 KB
  var PII_PARAMS = /^(e-?mail|mail|phone|tel|mobile|name|first_?name|last_?name|address|postcode|zip|password|token)$/i;
  var EMAIL = /[^\s\/?#&=:;,"'<>]+(@|%40)[^\s\/?#&=:;,"'<>]+\.[a-z]{2,}/gi;
  var PHONE = /\+?\d[\d ().\-]{5,}\d/g;
  var script = document.currentScript;
  var cfg = {endpoint: script ? new URL("/v1/events", script.src).href : "/v1/events", key: "",
             flushEvery: 10, flushMs: 5000, maxQueue: 200, maxRetries: 6, touchpoints: {}, pageViews: true};
  var queue = [], timer = null, retryTimer = null, failures = 0, started = false;

  function randomId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return Date.now().toString(36) + "-" + Math.random().toString(36).slice(2);
  }
  function stored(storage, name) {
    try { return window[storage].getItem(name); } catch (e) { return null; }
  }
  function store(storage, name, value) {
    try { window[storage].setItem(name, value); } catch (e) { /* private mode: the cookie keeps it */ }
  }
  function anonymousId() {
    var match = document.cookie.match(new RegExp("(?:^|; )" + ID_NAME + "=([^;]+)"));
    var id = stored("localStorage", ID_NAME) || (match && match[1]) || "a-" + randomId();
    store("localStorage", ID_NAME, id);
    document.cookie = ID_NAME + "=" + id + "; path=/; max-age=" + YEAR_S + "; SameSite=Lax";
    return id;
  }
  function sessionId() {
    var id = stored("sessionStorage", SESSION_NAME) || "s-" + randomId();
    store("sessionStorage", SESSION_NAME, id);
    return id;
  }

  function scrub(text) {  // a run of 9 digits or more is a phone number; a date (8) is not
    return String(text || "").replace(EMAIL, "[email]").replace(PHONE, function (run) {
      return run.replace(/\D/g, "").length >= 9 ? "[phone]" : run;
    });
  }
  function decoded(text) {
    try { return decodeURIComponent(text); } catch (e) { return text; }
  }
  function cleanUrl(href, pathOnly) {  // decoded before scrubbing: %40 and %20 hide nothing
    if (!href) return undefined;
    var url;
    try { url = new URL(href, window.location.href); } catch (e) { return undefined; }
    var kept = [];
    url.searchParams.forEach(function (value, name) {
      if (!PII_PARAMS.test(name)) kept.push(scrub(name) + "=" + scrub(value));
    });
    var clean = scrub(decoded(url.pathname)) + (kept.length ? "?" + kept.join("&") : "");
    return ((pathOnly ? "" : url.origin) + clean).slice(0, 2000);  // a host is no one's PII
  }

  function deviceType(ua) {
    if (/iPad|Tablet|PlayBook|Silk/i.test(ua) || (/Android/i.test(ua) && !/Mobi/i.test(ua))) return "tablet";
    if (/Mobi|iPhone|iPod|Android|Windows Phone/i.test(ua)) return "mobile";
    var width = window.innerWidth || (document.documentElement || {}).clientWidth || 1024;
    return width < 600 ? "mobile" : "desktop";
  }
  function browserName(ua) {
    var names = [["edge", /Edg\//], ["opera", /OPR\//], ["samsung", /SamsungBrowser/], ["firefox", /Firefox\//],
                 ["chrome", /Chrome\/|CriOS/], ["safari", /Safari\//]];
    for (var i = 0; i < names.length; i++) if (names[i][1].test(ua)) return names[i][0];
    return "other";
  }
  function osName(ua) {
    var names = [["ios", /iPhone|iPad|iPod/], ["android", /Android/], ["windows", /Windows/], ["macos", /Mac OS X/],
                 ["chromeos", /CrOS/], ["linux", /Linux/]];
    for (var i = 0; i < names.length; i++) if (names[i][1].test(ua)) return names[i][0];
    return "other";
  }
  function context() {
    var ua = navigator.userAgent || "", found = {device_type: deviceType(ua), browser: browserName(ua), os: osName(ua)};
    if (navigator.language) found.locale = navigator.language.slice(0, 20);
    var params = new URLSearchParams(window.location.search);
    ["utm_source", "utm_medium", "utm_campaign"].forEach(function (name) {
      var value = params.get(name);
      if (value) found[name] = scrub(value).slice(0, 100);
    });
    return found;
  }

  function touchpointOf(path) {
    var best = "", chosen = "web.content/page_view";
    Object.keys(cfg.touchpoints).forEach(function (prefix) {
      if (path.indexOf(prefix) === 0 && prefix.length > best.length) { best = prefix; chosen = cfg.touchpoints[prefix]; }
    });
    var parts = chosen.split("/");
    return {touchpoint: parts[0], event_type: parts[1] || "page_view"};
  }

  var state = {identifiers: {}, context: {}};
  function event(eventType, measures, touchpoint) {
    var path = cleanUrl(window.location.href, true);
    var all = {path: path, session_id: sessionId()};
    for (var name in measures) if (measures[name] !== undefined) all[name] = measures[name];
    return {channel: "web", touchpoint: touchpoint || touchpointOf(window.location.pathname).touchpoint,
            event_type: eventType, event_time: new Date().toISOString(), source_id: "b-" + randomId(),
            identifiers: state.identifiers, context: state.context, measures: all};
  }
  function track(eventType, measures, touchpoint) {
    if (!started) return;
    if (queue.length >= cfg.maxQueue) queue.shift();  // a page that cannot send keeps the newest
    queue.push(event(eventType, measures, touchpoint));
    if (queue.length >= cfg.flushEvery) flush();
    else if (!timer) timer = setTimeout(flush, cfg.flushMs);
  }

  function body(batch) {
    return JSON.stringify({write_key: cfg.key, events: batch});
  }
  function flush() {
    clearTimeout(timer); timer = null;
    if (!queue.length || retryTimer) return;
    var batch = queue.splice(0, BATCH_MAX);
    fetch(cfg.endpoint, {method: "POST", mode: "cors", credentials: "omit", keepalive: true,
                         headers: {"Content-Type": "text/plain"}, body: body(batch)})
      .then(function (answer) {
        if (answer.status === 429 || answer.status >= 500) retry(batch, answer.headers.get("Retry-After"));
        else { failures = 0; if (queue.length) flush(); }
      })
      .catch(function () { retry(batch, null); });
  }
  function retry(batch, after) {  // a refused origin looks like a network error: give up in the end
    failures += 1;
    if (failures > cfg.maxRetries) { failures = 0; if (queue.length) timer = setTimeout(flush, cfg.flushMs); return; }
    queue = batch.concat(queue).slice(-cfg.maxQueue);
    var waitMs = Math.max(1000 * (parseInt(after, 10) || 0), Math.min(60000, 1000 * Math.pow(2, failures)));
    retryTimer = setTimeout(function () { retryTimer = null; flush(); }, waitMs);
  }
  function flushOnHide() {
    clearTimeout(timer); timer = null;
    while (queue.length) {
      var batch = queue.splice(0, BATCH_MAX);
      if (!navigator.sendBeacon || !navigator.sendBeacon(cfg.endpoint, body(batch))) { queue = batch.concat(queue); return; }
    }
  }

  function pageView(extra) {
    var found = touchpointOf(window.location.pathname);
    track(found.event_type, Object.assign({referrer: cleanUrl(document.referrer, false)}, extra || {}), found.touchpoint);
  }
  function onError(kind, code) {
    track("error", {error_kind: String(kind || "javascript").toLowerCase().replace(/[^a-z0-9_]/g, "_").slice(0, 80),
                    error_code: code === undefined ? undefined : scrub(code).slice(0, 40)});
  }
  function errorName(error, fallback) {
    return (error && error.name) || fallback;
  }

  function init(options) {
    for (var name in options || {}) cfg[name] = options[name];
    if (started) return;
    started = true;
    state.identifiers = {anonymous_id: anonymousId()};
    state.context = context();
    window.addEventListener("error", function (e) { onError("javascript", errorName(e.error, "Error")); });
    window.addEventListener("unhandledrejection", function (e) { onError("javascript", errorName(e.reason, "UnhandledRejection")); });
    document.addEventListener("click", function (e) {
      var el = e.target && e.target.closest && e.target.closest("[data-journeys-click]");
      if (el) track("click", {element: el.getAttribute("data-journeys-click").slice(0, 200)});
    }, true);
    document.addEventListener("visibilitychange", function () { if (document.visibilityState === "hidden") flushOnHide(); });
    window.addEventListener("pagehide", flushOnHide);
    if (cfg.pageViews) pageView();
  }

  window.journeys = {
    version: "1",
    init: init,
    page: pageView,
    screen: function (name) { track("screen_view", {screen: String(name).slice(0, 200)}); },
    track: function (eventType, measures, touchpoint) { track(eventType, measures || {}, touchpoint); },
    error: onError,
    checkoutStep: function (step, extra) {
      track("checkout_step", Object.assign({checkout_step: step}, extra || {}), "web.checkout");
    },
    clean: cleanUrl,
    identify: function (emailHash) {
      if (/^[0-9a-f]{64}$/.test(emailHash)) state.identifiers = Object.assign({}, state.identifiers, {email_hash: emailHash});
    },
    flush: flush
  };
})(window, document);
