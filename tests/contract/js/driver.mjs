// Long-lived JSON-lines driver for Frontegg's real client (@frontegg/rest-api).
//
// Protocol (one JSON object per line, UTF-8):
//   stdin  line 1 : config {"baseUrl": "...", "urlPrefix"?: "...", "headers"?: {k: v},
//                           "skipUserLoading"?: true, "locationSearch"?: "?tenantId=...",
//                           "requestSource"?: "login-box" | "admin-portal" | null,
//                           "appId"?: "...", "timeoutMs"?: 30000}
//   stdout        : {"ready": true, "clientVersion": "7.119.0", "groups": [...]}
//                   (or {"ready": false, "error": {...}} and exit code 1)
//   stdin  line n : call {"id": n, "fn": "group.function", "args": [...],
//                         "accessToken": "<jwt>" | null, "headers"?: {k: v}, "timeoutMs"?: n}
//   stdout        : {"id": n, "ok": true, "value": <result>}
//                or {"id": n, "ok": false, "error": {"name", "message", "statusCode",
//                    "errorCode", "errors", "errorCodes", "errorContext", "traceId", "cause",
//                    "harness"}}
//
// Calls are executed one at a time, in arrival order, because the access token and the extra
// headers live in the client's global per-app context. "harness": true marks errors produced by
// this driver itself (bad request line, unknown function, call that never settled) rather than by
// the client.
//
// stdout carries the protocol only: every console.* method is redirected to stderr before the
// client is imported.

import { createRequire } from 'node:module';
import { createInterface } from 'node:readline';
import { format } from 'node:util';

const APP_NAME = 'default';
const DEFAULT_TIMEOUT_MS = 30000;

const writeProtocol = (obj) => {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
};

for (const level of ['log', 'info', 'debug', 'warn', 'error', 'trace', 'dir', 'table']) {
  console[level] = (...args) => {
    process.stderr.write(`[client console.${level}] ${format(...args)}\n`);
  };
}

// The client reads window.location.search on every request (scoped tenant) and assigns
// window.location.href on a 302 answer.
globalThis.window = { location: { search: '', href: 'http://127.0.0.1/' } };

const { ContextHolder, createApiClient } = await import('@frontegg/rest-api');
const clientVersion = createRequire(import.meta.url)('@frontegg/rest-api/package.json').version;

let callHeaders = {};
let client = null;
let timeoutMs = DEFAULT_TIMEOUT_MS;
let initialHref = globalThis.window.location.href;

const toKeyValuePairs = (headers) =>
  Object.entries(headers ?? {}).map(([key, value]) => ({ key, value: String(value) }));

const errorToJson = (err, harness = false) => {
  const isObject = err !== null && typeof err === 'object';
  const pick = (key) => (isObject && err[key] !== undefined ? err[key] : null);
  return {
    name: (isObject && (err.constructor?.name || err.name)) || typeof err,
    message: isObject ? String(err.message ?? '') : String(err),
    statusCode: pick('statusCode'),
    errorCode: pick('errorCode'),
    errors: pick('errors'),
    errorCodes: pick('errorCodes'),
    errorContext: pick('errorContext'),
    traceId: pick('traceId'),
    cause: isObject && err.cause != null ? String(err.cause?.message ?? err.cause) : null,
    harness,
  };
};

class HarnessError extends Error {}

const configure = (config) => {
  if (!config || typeof config.baseUrl !== 'string' || !config.baseUrl) {
    throw new HarnessError('config line must be a JSON object with a non-empty "baseUrl"');
  }
  const defaultHeaders = config.headers ?? {};
  const context = {
    baseUrl: config.baseUrl,
    // No logLevel: the client only logs HTTP errors when logLevel is 'warn' or 'error'.
    additionalHeadersResolver: () => toKeyValuePairs({ ...defaultHeaders, ...callHeaders }),
  };
  if (config.urlPrefix) context.urlPrefix = config.urlPrefix;
  if (config.appId) context.appId = config.appId;
  if (config.requestCredentials) context.requestCredentials = config.requestCredentials;
  const holder = ContextHolder.for(APP_NAME);
  holder.setContext(context);
  holder.setSessionContext({ skipUserLoading: config.skipUserLoading ?? true });
  holder.setAccessToken(null);
  holder.setRequestSource(config.requestSource ?? null);
  globalThis.window.location.search = config.locationSearch ?? '';
  initialHref = `${config.baseUrl.replace(/\/+$/, '')}/`;
  globalThis.window.location.href = initialHref;
  if (config.timeoutMs) timeoutMs = Number(config.timeoutMs);
  client = createApiClient(APP_NAME);
};

const checkFunction = (fn) => {
  const parts = typeof fn === 'string' ? fn.split('.') : [];
  if (parts.length !== 2) {
    throw new HarnessError(`"fn" must look like "group.function", got ${JSON.stringify(fn)}`);
  }
  const [group, name] = parts;
  const api = Object.prototype.hasOwnProperty.call(client, group) ? client[group] : undefined;
  if (!api) {
    throw new HarnessError(`unknown client group "${group}"; groups: ${Object.keys(client).join(', ')}`);
  }
  if (typeof api[name] !== 'function') {
    throw new HarnessError(`client group "${group}" has no function "${name}"`);
  }
};

const withTimeout = (promise, timeoutMs) =>
  new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(
        new HarnessError(
          `call did not settle within ${timeoutMs} ms ` +
            `(window.location.href is now ${JSON.stringify(globalThis.window.location.href)}; ` +
            'a 302 answer makes the client hang forever)',
        ),
      );
    }, timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });

const handleCall = async (line) => {
  let request;
  try {
    request = JSON.parse(line);
  } catch (err) {
    writeProtocol({ id: null, ok: false, error: errorToJson(new HarnessError(`bad JSON line: ${err.message}`), true) });
    return;
  }
  const id = request?.id ?? null;
  try {
    checkFunction(request.fn);
    if (request.args !== undefined && !Array.isArray(request.args)) {
      throw new HarnessError('"args" must be an array');
    }
    if (request.headers != null && typeof request.headers !== 'object') {
      throw new HarnessError('"headers" must be an object');
    }
  } catch (err) {
    writeProtocol({ id, ok: false, error: errorToJson(err, true) });
    return;
  }
  const holder = ContextHolder.for(APP_NAME);
  holder.setAccessToken(request.accessToken ?? null);
  callHeaders = request.headers ?? {};
  globalThis.window.location.href = initialHref;
  try {
    const [group, name] = request.fn.split('.');
    const pending = Promise.resolve().then(() => client[group][name](...(request.args ?? [])));
    const value = await withTimeout(pending, Number(request.timeoutMs) || timeoutMs);
    writeProtocol({ id, ok: true, value: value === undefined ? null : value });
  } catch (err) {
    writeProtocol({ id, ok: false, error: errorToJson(err, err instanceof HarnessError) });
  } finally {
    callHeaders = {};
    // A successful login/MFA answer stores its accessToken in the context; never leak it into
    // the next call, which states its own token.
    holder.setAccessToken(null);
  }
};

const rl = createInterface({ input: process.stdin, crlfDelay: Infinity, terminal: false });
let configured = false;
let queue = Promise.resolve();

rl.on('line', (line) => {
  if (!line.trim()) return;
  if (!configured) {
    configured = true;
    try {
      configure(JSON.parse(line));
      writeProtocol({ ready: true, clientVersion, groups: Object.keys(client) });
    } catch (err) {
      writeProtocol({ ready: false, error: errorToJson(err, true) });
      process.exit(1);
    }
    return;
  }
  queue = queue.then(() => handleCall(line));
});

rl.on('close', () => {
  queue.then(() => process.exit(0));
});
