// The demo host's page: Frontegg's own login box (@frontegg/admin-portal 5.79.0) with this
// origin as its baseUrl, so every call it makes goes to the demo host (demo/host.py), which
// answers the login half itself and passes the MFA calls to the MFA service unchanged.
import { initialize } from '@frontegg/admin-portal';

const LOGIN = '/account/login';
const SIGNED_IN = '/signed-in';
const LOGOUT = '/account/logout';

const app = initialize({
  contextOptions: { baseUrl: window.location.origin },
  authOptions: { routes: { authenticatedUrl: SIGNED_IN, loginUrl: LOGIN, logoutUrl: LOGOUT } },
  // Nothing leaves the machine: no background image from Frontegg's image host, no Sentry.
  // (The box also links a Google font; the host's Content-Security-Policy blocks it.)
  themeOptions: { loginBox: { rootStyle: { backgroundImage: 'none', background: '#f5f6fa' } } },
  tracing: false,
});

// Outside the login box: who is signed in, as the host answered /users/v2/me after it
// verified the access token with the MFA service's JWKS.
const panel = document.getElementById('signed-in');

function render() {
  const { auth } = app.store.getState();
  const user = auth.isAuthenticated ? auth.user : undefined;
  if (window.location.pathname !== SIGNED_IN) {
    panel.hidden = true;
    return;
  }
  panel.hidden = false;
  if (auth.isLoading) {
    panel.textContent = 'Loading...';
  } else if (user) {
    panel.replaceChildren(
      line('Signed in as ', user.email),
      line('Proof of MFA (amr): ', (user.amr || []).join(', ')),
      line('Verified by the host with the JWKS: key ', user.metadata ? JSON.parse(user.metadata).verifiedWithKey : '?'),
      link(LOGOUT, 'Sign out'),
    );
  } else {
    panel.replaceChildren(line('Not signed in. ', ''), link(LOGIN, 'Sign in'));
  }
}

function line(label, value) {
  const p = document.createElement('p');
  p.append(label);
  const b = document.createElement('b');
  b.textContent = value;
  p.append(b);
  return p;
}

function link(href, text) {
  const a = document.createElement('a');
  a.href = href;
  a.textContent = text;
  return a;
}

// The box moves between its pages with history.pushState: show the panel when it lands here.
for (const name of ['pushState', 'replaceState']) {
  const original = window.history[name].bind(window.history);
  window.history[name] = (...args) => {
    original(...args);
    render();
  };
}
app.store.subscribe(render);
window.addEventListener('popstate', render);
render();
