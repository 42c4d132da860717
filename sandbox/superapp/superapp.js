// The super-app simulator: plays a wallet running a merchant mini program, with the my.* APIs of
// the Auto Debit seed flow.  Loads the mini program's app.json, app.js, and its first page's .js,
// .axml and .acss from app/ (the sandbox's --mini-program directory), runs them with App(),
// Page() and getApp(), and renders the page's AXML with a small template engine ({{expr}},
// a:if, onTap; view, text, button).  What it does not do is said here, not guessed: no rpx, no
// a:for, no navigation between pages.
//
// Query parameters: site (what my.getSiteInfo answers, default GCASH; empty: its fail callback),
// backend and customer (what my.getExtConfigSync answers), fail (make my.signContract fail with
// this code after the wallet page: 6002, 7001, 7002).
'use strict';

const params = new URLSearchParams(location.search);
const site = params.has('site') ? params.get('site') : 'GCASH';
const ext = { backend: params.get('backend') || '', customerRef: params.get('customer') || 'customer-1' };
const forcedFailure = params.get('fail');

const $ = (id) => document.getElementById(id);

// One line in the panel's log of my.* calls.
function log(text, failed) {
  const li = document.createElement('li');
  li.textContent = text;
  if (failed) li.className = 'fail';
  $('log').appendChild(li);
}

// Call an Alipay-style callback set: success or fail, then complete.
function settle(opts, ok, result) {
  const fn = ok ? opts.success : opts.fail;
  if (fn) fn(result);
  if (opts.complete) opts.complete(result);
}

// --- the my.* APIs -----------------------------------------------------------------------------

const my = {
  getSiteInfo(opts) {
    if (site) {
      log('my.getSiteInfo() → success {siteName: "' + site + '"}');
      settle(opts, true, { siteName: site });
    } else {
      log('my.getSiteInfo() → fail {error: 3}', true);
      settle(opts, false, { error: 3, errorMessage: 'unknown site' });
    }
  },

  getExtConfigSync() {
    return Object.assign({}, ext);
  },

  // fetch() in a browser; the real my.request is native and needs no CORS.
  request(opts) {
    const method = (opts.method || 'GET').toUpperCase();
    const label = 'my.request(' + method + ' ' + opts.url.replace(ext.backend, '') + ')';
    fetch(opts.url, { method, headers: opts.headers || {}, body: method === 'GET' ? undefined : opts.data })
      .then(async (res) => {
        const text = await res.text();
        let data = text;
        if ((opts.dataType || 'json') === 'json') {
          try { data = JSON.parse(text); } catch (e) { data = text; }
        }
        if (res.ok) {
          log(label + ' → ' + res.status + ' ' + text.slice(0, 160));
          settle(opts, true, { status: res.status, data, headers: {} });
        } else {
          log(label + ' → fail {error: 19, status: ' + res.status + '} ' + text.slice(0, 160), true);
          settle(opts, false, { error: 19, errorMessage: 'http status error', status: res.status, data });
        }
      })
      .catch(() => {
        log(label + ' → fail {error: 12} network', true);
        settle(opts, false, { error: 12, errorMessage: 'network error' });
      });
  },

  // Open the authorization URL in the wallet's webview.  The consent page is this sandbox's, so the
  // simulator intercepts its redirect (as a super app does natively) by asking it for JSON.
  signContract(opts) {
    log('my.signContract({signStr: "' + opts.signStr.slice(0, 60) + '…"}) → wallet page');
    if (forcedFailure === '6002') {
      log('my.signContract → fail {error: 6002} (forced)', true);
      settle(opts, false, { error: 6002, errorMessage: 'network error' });
      return;
    }
    const view = $('webview');
    const frame = $('webview-frame');
    let done = false;
    const finish = (ok, result) => {
      if (done) return;
      done = true;
      view.hidden = true;
      frame.onload = null;
      frame.src = 'about:blank';
      log('my.signContract → ' + (ok ? 'success ' : 'fail ') + JSON.stringify(result), !ok);
      settle(opts, ok, result);
    };
    $('webview-close').onclick = () => finish(false, { error: 6001, errorMessage: 'user cancelled' });
    frame.onload = () => {
      let doc;
      try { doc = frame.contentDocument; } catch (e) { doc = null; }
      if (!doc || !doc.body) return;              // another origin: nothing to intercept
      if (doc.contentType === 'application/json') {
        let r;
        try { r = JSON.parse(doc.body.textContent); } catch (e) { r = {}; }
        if (r.authCode && forcedFailure)
          finish(false, { error: Number(forcedFailure), errorMessage: 'forced by the simulator' });
        else if (r.authCode)
          finish(true, { authCode: r.authCode, authState: r.authState });
        else
          finish(false, { error: 6001, errorMessage: 'user cancelled' });
        return;
      }
      const form = doc.querySelector('form');
      if (form && !form.querySelector('input[name=reply]')) {
        const reply = doc.createElement('input');
        reply.type = 'hidden';
        reply.name = 'reply';
        reply.value = 'json';
        form.appendChild(reply);
      }
    };
    frame.onerror = () => finish(false, { error: 6002, errorMessage: 'network error' });
    $('webview-title').textContent = site + ' wallet';
    view.hidden = false;
    frame.src = opts.signStr;
  },
};

// --- the mini-program runtime ------------------------------------------------------------------

let appInstance = null;
let pageDef = null;

// Evaluate a template expression against the page's data; undefined when it cannot.
function evaluate(expr, data) {
  try {
    return new Function('__data', 'with (__data) { return (' + expr + '); }')(data);
  } catch (e) {
    return undefined;
  }
}

// Replace each {{expr}} in text.
function interpolate(text, data) {
  return text.replace(/\{\{(.*?)\}\}/g, (_, expr) => {
    const v = evaluate(expr, data);
    return v === undefined || v === null ? '' : String(v);
  });
}

// The value of an attribute that is exactly one {{expr}}, else its interpolated text.
function attributeValue(text, data) {
  const whole = /^\s*\{\{(.*)\}\}\s*$/.exec(text);
  return whole ? evaluate(whole[1], data) : interpolate(text, data);
}

const TAGS = { view: 'div', text: 'span', button: 'button', image: 'img', block: 'div' };

// Build the DOM for one AXML node (parsed as HTML, so attribute names are lower case).
function build(node, page) {
  if (node.nodeType === Node.TEXT_NODE)
    return document.createTextNode(interpolate(node.textContent, page.data));
  if (node.nodeType !== Node.ELEMENT_NODE)
    return null;
  const cond = node.getAttribute('a:if');
  if (cond !== null && !attributeValue(cond, page.data))
    return null;
  const el = document.createElement(TAGS[node.localName] || 'div');
  el.classList.add('mp-' + node.localName);
  for (const attr of node.attributes) {
    if (attr.name === 'a:if')
      continue;
    if (attr.name === 'ontap') {
      const method = attr.value;
      el.addEventListener('click', () => {
        if (el.disabled) return;
        page[method]({ type: 'tap', currentTarget: { dataset: Object.assign({}, el.dataset) } });
      });
      continue;
    }
    const value = attributeValue(attr.value, page.data);
    if (attr.name === 'disabled') {
      el.disabled = Boolean(value) && value !== 'false';
      continue;
    }
    if (attr.name === 'class')
      el.className += ' ' + value;
    else
      el.setAttribute(attr.name, value);
  }
  for (const child of node.childNodes) {
    const built = build(child, page);
    if (built) el.appendChild(built);
  }
  return el;
}

// Fetch a file of the mini program.
async function appFile(path) {
  const res = await fetch('app/' + path);
  if (!res.ok) throw new Error('app/' + path + ': ' + res.status + ' ' + (await res.text()));
  return res.text();
}

// Run a mini-program script with the runtime's globals.
function runScript(source, name) {
  new Function('my', 'App', 'Page', 'getApp', source + '\n//# sourceURL=' + name)(
    my, (def) => { appInstance = def; }, (def) => { pageDef = def; }, () => appInstance);
}

// Load the mini program, its first page, and show it.
async function start() {
  $('wallet-name').textContent = site || 'unknown site';
  for (const [k, v] of [['site', site || '(none)'], ['backend', ext.backend || '(none)'],
                        ['customer', ext.customerRef], ['signContract', forcedFailure ? 'fails with ' + forcedFailure : 'as the user decides']]) {
    const dt = document.createElement('dt');
    const dd = document.createElement('dd');
    dt.textContent = k;
    dd.textContent = v;
    $('params').append(dt, dd);
  }
  const appJson = JSON.parse(await appFile('app.json'));
  const route = appJson.pages[0];
  runScript(await appFile('app.js'), 'app.js');
  const [js, axml, acss, json] = await Promise.all([
    appFile(route + '.js'), appFile(route + '.axml'), appFile(route + '.acss'),
    appFile(route + '.json').catch(() => '{}')]);
  $('title').textContent = JSON.parse(json).defaultTitle || (appJson.window || {}).defaultTitle || '';
  runScript(js, route + '.js');

  const template = new DOMParser().parseFromString('<body>' + axml + '</body>', 'text/html').body;
  const root = $('screen').attachShadow({ mode: 'open' });
  const page = Object.assign({}, pageDef, { data: JSON.parse(JSON.stringify(pageDef.data || {})), route });
  const render = () => {
    root.replaceChildren();
    const style = document.createElement('style');
    style.textContent = acss;
    root.appendChild(style);
    for (const child of template.childNodes) {
      const built = build(child, page);
      if (built) root.appendChild(built);
    }
  };
  page.setData = (patch, callback) => {
    Object.assign(page.data, patch);
    render();
    if (callback) callback();
  };
  render();
  if (page.onLoad) page.onLoad({});
  if (page.onShow) page.onShow();
}

start().catch((e) => {
  log('the mini program did not load: ' + e.message, true);
  $('screen').textContent = 'The mini program did not load: ' + e.message;
});
