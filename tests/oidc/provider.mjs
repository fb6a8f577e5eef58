// Test-only OpenID Connect provider for Roster's integration tests.
//
// A real panva/oidc-provider instance on 127.0.0.1 with one static confidential
// client, no login UI, and a small JSON control API under /__test/ that decides
// who "logs in" next. See README.md in this folder.
//
// stdout carries exactly one line, `READY http://127.0.0.1:<port>`; everything
// else (library warnings, errors) goes to stderr.

import * as crypto from 'node:crypto';
import * as http from 'node:http';

// oidc-provider prints NOTICE lines with console.info (stdout). Keep stdout for
// the READY line only; route every console method to stderr before the library
// is loaded.
for (const method of ['log', 'info', 'debug']) {
  console[method] = (...args) => console.error(...args);
}

const { default: Provider } = await import('oidc-provider');

// ---------------------------------------------------------------------------
// Environment

function env(name, fallback) {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
}

const requestedPort = Number.parseInt(env('OIDC_PORT', '0'), 10);
if (!Number.isInteger(requestedPort) || requestedPort < 0 || requestedPort > 65535) {
  console.error(`provider.mjs: invalid OIDC_PORT ${JSON.stringify(process.env.OIDC_PORT)}`);
  process.exit(2);
}
const CLIENT_ID = env('OIDC_CLIENT_ID', 'roster');
const CLIENT_SECRET = env('OIDC_CLIENT_SECRET', 'roster-test-secret');
const REDIRECT_URI = env('OIDC_REDIRECT_URI', 'http://127.0.0.1:41234/auth/oidc/callback');
const DEBUG = env('OIDC_DEBUG', '') !== '';

// ---------------------------------------------------------------------------
// Signing key: a fresh RS256 key per process (Node's crypto, no extra deps).

const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const privateJwk = privateKey.export({ format: 'jwk' });
const kid = crypto
  .createHash('sha256')
  .update(JSON.stringify({ e: privateJwk.e, kty: privateJwk.kty, n: privateJwk.n }))
  .digest('base64url');
const signingJwk = { ...privateJwk, kid, alg: 'RS256', use: 'sig' };

// ---------------------------------------------------------------------------
// Test state, driven through the control API.

/** Identity used by the next interaction(s); null until POST /__test/next. */
let nextIdentity = null;
/** sub -> claims; kept for every identity ever set so findAccount keeps working. */
const accounts = new Map();
/** While a string (or array), token responses carry an id_token re-signed with this aud. */
let idTokenAudience = null;

// ---------------------------------------------------------------------------
// Provider configuration

const COOKIE_PREFIX = 'oidc_test';
const SESSION_COOKIE = `${COOKIE_PREFIX}_session`;

const configuration = {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      response_types: ['code'],
      grant_types: ['authorization_code'],
      // client_secret_post is accepted as well: oidc-provider treats the two
      // shared-secret methods as interchangeable for a client registered with either.
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  responseTypes: ['code'],
  pkce: {
    methods: ['S256'],
    required: () => true,
  },
  scopes: ['openid', 'email', 'profile'],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    acr: null,
    auth_time: null,
    iss: null,
    sid: null,
  },
  // Put the scope-requested claims (email, email_verified, name) into the ID
  // token too, not only into the userinfo response.
  conformIdTokenClaims: false,
  jwks: { keys: [signingJwk] },
  ttl: {
    AccessToken: 300,
    AuthorizationCode: 60,
    IdToken: 300,
    Interaction: 300,
    Session: 600,
    Grant: 600,
  },
  cookies: {
    names: {
      // Cookies are not port-scoped: keep these names distinct from anything the
      // application under test sets on 127.0.0.1.
      session: SESSION_COOKIE,
      interaction: `${COOKIE_PREFIX}_interaction`,
      resume: `${COOKIE_PREFIX}_interaction_resume`,
    },
    // Plain http on loopback: "lax" cookies need no Secure flag.
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
    keys: [crypto.randomBytes(32).toString('base64url')],
  },
  features: {
    devInteractions: { enabled: false },
    userinfo: { enabled: true },
    revocation: { enabled: false },
    introspection: { enabled: false },
  },
  interactions: {
    url: (ctx, interaction) => `/interaction/${interaction.uid}`,
  },
  async findAccount(ctx, sub) {
    const claims = accounts.get(sub);
    if (!claims) return undefined;
    return {
      accountId: sub,
      async claims() {
        return { ...claims, sub };
      },
    };
  },
  renderError(ctx, out) {
    ctx.type = 'text/plain; charset=utf-8';
    ctx.body = `${out.error}${out.error_description ? `: ${out.error_description}` : ''}\n`;
  },
};

// ---------------------------------------------------------------------------
// HTTP helpers

async function readJson(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  return JSON.parse(text);
}

function sendJson(ctx, status, body) {
  ctx.status = status;
  ctx.type = 'application/json';
  ctx.body = JSON.stringify(body);
}

function sendText(ctx, status, text) {
  ctx.status = status;
  ctx.type = 'text/plain; charset=utf-8';
  ctx.body = `${text}\n`;
}

function decodeJwtPart(part) {
  return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
}

/** Same header and claims, different aud, signed with the provider's real key. */
function resignWithAudience(jwt, aud) {
  const [headerPart, payloadPart] = jwt.split('.');
  const header = decodeJwtPart(headerPart);
  const payload = { ...decodeJwtPart(payloadPart), aud };
  if (header.alg !== 'RS256' || header.kid !== kid) {
    throw new Error(`unexpected id_token header ${JSON.stringify(header)}`);
  }
  const signingInput = `${headerPart}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature = crypto.sign('sha256', Buffer.from(signingInput), privateKey);
  return `${signingInput}.${signature.toString('base64url')}`;
}

// ---------------------------------------------------------------------------
// Server: listen first so the issuer can carry the real port.

const server = http.createServer();
try {
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(requestedPort, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
} catch (err) {
  console.error(`provider.mjs: cannot listen on 127.0.0.1:${requestedPort}: ${err.code || err.message}`);
  process.exit(1);
}
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, configuration);

provider.on('server_error', (ctx, err) => {
  console.error(`oidc-provider server_error on ${ctx.method} ${ctx.path}:`, err);
});
if (DEBUG) {
  for (const event of ['authorization.error', 'grant.error', 'userinfo.error', 'end_session.error']) {
    provider.on(event, (ctx, err) => {
      console.error(`oidc-provider ${event} on ${ctx.method} ${ctx.path}: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`);
    });
  }
}

// 1. Control API (test only).
provider.use(async (ctx, next) => {
  if (!ctx.path.startsWith('/__test/')) return next();

  try {
    if (ctx.path === '/__test/health' && ctx.method === 'GET') {
      return sendJson(ctx, 200, { ok: true, issuer });
    }

    if (ctx.path === '/__test/next' && ctx.method === 'POST') {
      const body = await readJson(ctx);
      if (typeof body.sub !== 'string' || body.sub === '') {
        return sendJson(ctx, 400, { error: '"sub" must be a non-empty string' });
      }
      const claims = {};
      for (const name of ['email', 'email_verified', 'name']) {
        if (body[name] !== undefined && body[name] !== null) claims[name] = body[name];
      }
      accounts.set(body.sub, claims);
      nextIdentity = { sub: body.sub, deny: body.deny === true };
      return sendJson(ctx, 200, { next: { ...nextIdentity, ...claims } });
    }

    if (ctx.path === '/__test/id-token-audience' && ctx.method === 'POST') {
      const body = await readJson(ctx);
      const { aud } = body;
      const valid = aud === null
        || (typeof aud === 'string' && aud !== '')
        || (Array.isArray(aud) && aud.length > 0 && aud.every((a) => typeof a === 'string'));
      if (!valid) {
        return sendJson(ctx, 400, { error: '"aud" must be a non-empty string, an array of strings, or null' });
      }
      idTokenAudience = aud;
      return sendJson(ctx, 200, { aud: idTokenAudience });
    }

    return sendJson(ctx, 404, { error: `no test endpoint ${ctx.method} ${ctx.path}` });
  } catch (err) {
    return sendJson(ctx, 400, { error: `bad request: ${err.message}` });
  }
});

// 2. No single sign-on between authorization requests: drop the provider's
//    session cookie on /auth and /auth/<uid>, so every authorization request asks
//    for login and is answered by the current next identity (and never hits
//    oidc-provider's "different account, log out first" page).
provider.use(async (ctx, next) => {
  if ((ctx.path === '/auth' || ctx.path.startsWith('/auth/')) && ctx.req.headers.cookie) {
    const kept = ctx.req.headers.cookie
      .split(';')
      .map((c) => c.trim())
      .filter((c) => c !== '' && !c.startsWith(`${SESSION_COOKIE}=`) && !c.startsWith(`${SESSION_COOKIE}.`));
    if (kept.length > 0) {
      ctx.req.headers.cookie = kept.join('; ');
    } else {
      delete ctx.req.headers.cookie;
    }
  }
  return next();
});

// 3. Interaction endpoint: finish automatically as the next identity.
provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match || ctx.method !== 'GET') return next();

  if (!nextIdentity) {
    return sendText(ctx, 409, 'no next identity set: POST /__test/next {"sub": ...} before starting the login');
  }

  let details;
  try {
    details = await provider.interactionDetails(ctx.req, ctx.res);
  } catch (err) {
    return sendText(ctx, 400, `interaction not found: ${err.error_description || err.message}`);
  }
  if (details.uid !== match[1]) {
    return sendText(ctx, 400, 'interaction cookie does not match the interaction in the URL');
  }

  let result;
  if (nextIdentity.deny) {
    result = {
      error: 'access_denied',
      error_description: 'End-User denied the request (test control: deny=true)',
    };
  } else {
    const accountId = nextIdentity.sub;
    const { params } = details;
    const grant = new provider.Grant({ accountId, clientId: params.client_id });
    if (params.scope) grant.addOIDCScope(params.scope);
    if (params.claims) {
      try {
        const requested = JSON.parse(params.claims);
        const names = new Set([
          ...Object.keys(requested.id_token || {}),
          ...Object.keys(requested.userinfo || {}),
        ]);
        if (names.size > 0) grant.addOIDCClaims([...names]);
      } catch {
        // oidc-provider already validated the claims parameter; ignore.
      }
    }
    const grantId = await grant.save();
    result = {
      login: { accountId, remember: false },
      consent: { grantId },
    };
  }

  const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, {
    mergeWithLastSubmission: false,
  });
  ctx.status = 303;
  ctx.redirect(returnTo);
  return undefined;
});

// 4. Wrong-audience ID tokens: rewrite token endpoint responses on the way out.
provider.use(async (ctx, next) => {
  await next();
  if (idTokenAudience === null || ctx.method !== 'POST' || ctx.path !== '/token') return;
  if (ctx.status !== 200 || !ctx.body) return;

  let body = ctx.body;
  const wasString = typeof body === 'string' || Buffer.isBuffer(body);
  if (wasString) {
    try {
      body = JSON.parse(body.toString());
    } catch {
      return;
    }
  }
  if (typeof body !== 'object' || typeof body.id_token !== 'string') return;

  const rewritten = { ...body, id_token: resignWithAudience(body.id_token, idTokenAudience) };
  ctx.body = wasString ? JSON.stringify(rewritten) : rewritten;
  ctx.type = 'application/json';
});

server.on('request', provider.callback());

// ---------------------------------------------------------------------------
// Lifecycle

let stopping = false;
function stop(signal) {
  if (stopping) return;
  stopping = true;
  console.error(`provider.mjs: ${signal}, shutting down`);
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));

process.stdout.write(`READY ${issuer}\n`);

// A test run that is killed leaves no provider behind: exit when the parent goes away.
const parentPid = process.ppid;
setInterval(() => {
  if (process.ppid !== parentPid) process.exit(0);
}, 500).unref();
