// A real OpenID provider (panva's certified `oidc-provider`) for `tests/oidc_provider.rs`.
//
//   node provider.mjs --port PORT --backchannel-logout-uri URL
//
// Issuer `http://127.0.0.1:PORT`, one client (`demo-web`) whose back-channel logout goes to URL,
// and access tokens for the resource `demo-api` as RFC 9068 JWTs. Its RSA signing key is made at
// each start, so a restart is a key rotation (a new `kid`). Prints `ready` once listening.
//
// Two control endpoints, for the test only, drive the provider through its own HTTP endpoints
// the way a browser and the client would (cookies, redirects, forms), one browser per user:
//
//   POST /test/login?user=alice   authorization code flow with PKCE, logging in and consenting
//                                 through the provider's own (dev) interaction pages
//                                 → {access_token, id_token, sub, sid}
//   POST /test/logout?user=alice  RP-initiated logout of that browser's session; the provider
//                                 posts its logout token to the client before answering
//                                 → {deliveries: [{status, logout_token}]}

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';

import Provider from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    'backchannel-logout-uri': { type: 'string' },
  },
});
if (!args.port || !args['backchannel-logout-uri']) {
  console.error('usage: node provider.mjs --port PORT --backchannel-logout-uri URL');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${args.port}`;
const backchannelLogoutUri = new URL(args['backchannel-logout-uri']).href;
const CLIENT_ID = 'demo-web';
const CLIENT_SECRET = randomBytes(32).toString('base64url');
const REDIRECT_URI = `${issuer}/test/callback`; // never fetched: the code is read off the redirect
const RESOURCE = 'urn:jwt-cutoff:demo-api';
const AUDIENCE = 'demo-api';
const random = () => randomBytes(16).toString('base64url');

// A new key, and kid, at each start.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: random(), use: 'sig', alg: 'RS256' };

// Back-channel logout requests this process made: what was posted and what came back.
const deliveries = [];

const provider = new Provider(issuer, {
  jwks: { keys: [signingKey] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  findAccount: (ctx, id) => ({ accountId: id, claims: () => ({ sub: id }) }),
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    backchannel_logout_uri: backchannelLogoutUri,
    backchannel_logout_session_required: true,
  }],
  features: {
    devInteractions: { enabled: true },
    backchannelLogout: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => RESOURCE,
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, resource) => {
        if (resource !== RESOURCE) throw new Provider.errors.InvalidTarget();
        return {
          scope: 'api',
          audience: AUDIENCE,
          accessTokenFormat: 'jwt',
          accessTokenTTL: 600,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  // oidc-provider hands its own fetches a dispatcher that refuses special-use addresses
  // (loopback included: SSRF protection). The demo's back-channel logout endpoint is on
  // 127.0.0.1, so that one URL, and nothing else, goes through the default dispatcher.
  async fetch(url, options) {
    if (url !== backchannelLogoutUri) return globalThis.fetch(url, options);
    const { dispatcher, ...rest } = options;
    const response = await globalThis.fetch(url, rest);
    deliveries.push({ status: response.status, logout_token: rest.body.get('logout_token') });
    return response;
  },
});

// One browser: a cookie jar over fetch, redirects followed by hand.
class Browser {
  cookies = new Map();

  async request(url, { method = 'GET', form } = {}) {
    const cookie = [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const headers = cookie ? { cookie } : {};
    const body = form && new URLSearchParams(form);
    const response = await fetch(new URL(url, issuer), { method, headers, body, redirect: 'manual' });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair, ...attributes] = cookie.split(';');
      const [name, value] = pair.trim().split(/=(.*)/s);
      const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return response;
  }
}

const sessions = new Map(); // user → { browser, idToken }

async function login(user) {
  const browser = new Browser();
  const verifier = randomBytes(32).toString('base64url');
  const state = random();
  const authorization = new URL('/auth', issuer);
  authorization.search = new URLSearchParams({
    client_id: CLIENT_ID,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: 'openid api',
    resource: RESOURCE,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state,
    nonce: random(),
  });

  // Follow the provider until it redirects to the client; fill in its pages on the way.
  let response = await browser.request(authorization);
  for (let step = 0; step < 10; step += 1) {
    const location = response.headers.get('location');
    if (location?.startsWith(REDIRECT_URI)) break;
    if (location) {
      response = await browser.request(location);
    } else if (response.status === 200) {
      const page = await response.text();
      const prompt = page.match(/name="prompt" value="(\w+)"/)?.[1];
      const action = page.match(/<form[^>]*action="([^"]+)"/)?.[1];
      if (!prompt || !action) throw new Error(`unexpected page: ${page.slice(0, 300)}`);
      const form = prompt === 'login' ? { prompt, login: user, password: 'any' } : { prompt };
      response = await browser.request(action, { method: 'POST', form });
    } else {
      throw new Error(`unexpected ${response.status}: ${await response.text()}`);
    }
  }
  const callback = new URL(response.headers.get('location') ?? '');
  if (callback.searchParams.get('state') !== state) throw new Error(`bad callback ${callback}`);

  const token = await fetch(new URL('/token', issuer), {
    method: 'POST',
    headers: { authorization: `Basic ${btoa(`${CLIENT_ID}:${CLIENT_SECRET}`)}` },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code'),
      redirect_uri: REDIRECT_URI,
      code_verifier: verifier,
      resource: RESOURCE,
    }),
  });
  const tokens = await token.json();
  if (!token.ok) throw new Error(`token endpoint: ${JSON.stringify(tokens)}`);
  const { sub, sid } = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url'));
  sessions.set(user, { browser, idToken: tokens.id_token });
  return { access_token: tokens.access_token, id_token: tokens.id_token, sub, sid };
}

async function logout(user) {
  const session = sessions.get(user);
  if (!session) throw new Error(`${user} is not logged in`);
  const { browser, idToken } = session;
  // The end-session page asks the user to confirm with a form carrying an xsrf token.
  const end = new URL('/session/end', issuer);
  end.search = new URLSearchParams({ id_token_hint: idToken, client_id: CLIENT_ID });
  const page = await (await browser.request(end)).text();
  const action = page.match(/<form[^>]*action="([^"]+)"/)?.[1];
  const xsrf = page.match(/name="xsrf" value="([^"]+)"/)?.[1];
  if (!action || !xsrf) throw new Error(`unexpected end-session page: ${page.slice(0, 300)}`);
  // The provider answers the confirmation only after the back-channel logouts it sends returned.
  const first = deliveries.length;
  const confirmed = await browser.request(action, { method: 'POST', form: { xsrf, logout: 'yes' } });
  if (confirmed.status !== 303) throw new Error(`end session confirm: ${confirmed.status}`);
  sessions.delete(user);
  return { deliveries: deliveries.slice(first) };
}

const control = { '/test/login': login, '/test/logout': logout };
const oidc = provider.callback();

const server = createServer(async (req, res) => {
  const url = new URL(req.url, issuer);
  const action = control[url.pathname];
  if (!action) return oidc(req, res);
  const user = url.searchParams.get('user');
  if (req.method !== 'POST' || !user) {
    res.writeHead(400).end();
    return undefined;
  }
  try {
    const body = JSON.stringify(await action(user));
    res.writeHead(200, { 'content-type': 'application/json' }).end(body);
  } catch (error) {
    res.writeHead(500, { 'content-type': 'text/plain' }).end(String(error?.stack ?? error));
  }
  return undefined;
});

provider.on('server_error', (ctx, error) => console.error('server_error', error));
provider.on('backchannel.error', (ctx, error) => console.error('backchannel.error', error, error.cause));

server.listen(Number(args.port), '127.0.0.1', () => console.log('ready'));
