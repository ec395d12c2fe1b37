// A single-page app that signs in with the authorization code flow and
// PKCE through oauth4webapi, keeps its tokens in memory only (a reload
// signs in again, silently while the authserver session lasts), refreshes
// them, and calls example-api with the access token.
import * as oauth from './vendor/oauth4webapi.js';

const $ = (id) => document.getElementById(id);
const cfg = await (await fetch('config.json')).json();
const issuer = new URL(cfg.issuer);
// Plain http only for a development issuer on this machine.
const httpOptions = { [oauth.allowInsecureRequests]: issuer.protocol === 'http:' };
const as = await oauth.processDiscoveryResponse(issuer,
  await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...httpOptions }));
const client = { client_id: cfg.client_id };
const clientAuth = oauth.None();
const redirectUri = location.origin + '/';

// Tokens live in this module's memory, out of reach of storage APIs.
let tokens = null;
let refreshes = 0;

function show(text) { $('status').textContent = text; }

function signedIn(result) {
  tokens = result;
  show(`Signed in (${result.scope ?? 'default scope'})`);
  for (const id of ['call-api', 'refresh', 'signout']) $(id).hidden = false;
  $('signin').hidden = true;
}

async function signIn() {
  // The verifier and state must survive the trip to the login page, so
  // they (never a token) wait in sessionStorage, which this tab alone sees.
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  sessionStorage.setItem('pkce', JSON.stringify({ verifier, state }));
  const url = new URL(as.authorization_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', redirectUri);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', cfg.scope);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  location.assign(url);
}

async function finishSignIn(callback) {
  const saved = JSON.parse(sessionStorage.getItem('pkce') ?? 'null');
  sessionStorage.removeItem('pkce');
  history.replaceState(null, '', redirectUri); // the code leaves the address bar
  if (!saved) throw new Error('no sign-in in progress');
  // Checks state and, as the metadata announces it, iss (RFC 9207).
  const params = oauth.validateAuthResponse(as, client, callback, saved.state);
  const response = await oauth.authorizationCodeGrantRequest(as, client, clientAuth, params, redirectUri, saved.verifier, httpOptions);
  signedIn(await oauth.processAuthorizationCodeResponse(as, client, response));
}

async function refresh() {
  const response = await oauth.refreshTokenGrantRequest(as, client, clientAuth, tokens.refresh_token, httpOptions);
  signedIn(await oauth.processRefreshTokenResponse(as, client, response));
  $('refreshes').textContent = String(++refreshes);
}

async function callAPI() {
  const response = await fetch(new URL('orders', cfg.api), { headers: { Authorization: `Bearer ${tokens.access_token}` } });
  $('api').textContent = `${response.status} ${await response.text()}`;
}

async function signOut() {
  // End this app's refresh family, then the authserver session.
  const response = await oauth.revocationRequest(as, client, clientAuth, tokens.refresh_token, httpOptions);
  await oauth.processRevocationResponse(response);
  tokens = null;
  const url = new URL(as.end_session_endpoint);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('post_logout_redirect_uri', redirectUri);
  location.assign(url);
}

function guard(fn) {
  return () => fn().catch((err) => show(`Error: ${err.message}`));
}

$('signin').addEventListener('click', guard(signIn));
$('call-api').addEventListener('click', guard(callAPI));
$('refresh').addEventListener('click', guard(refresh));
$('signout').addEventListener('click', guard(signOut));

const callback = new URL(location.href);
if (callback.searchParams.has('code') || callback.searchParams.has('error')) {
  await guard(() => finishSignIn(callback))();
} else {
  show('Signed out');
}
if (!tokens) $('signin').hidden = false;
