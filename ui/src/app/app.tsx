import { useMemo, useState } from 'preact/hooks';
import { ApiClient } from '../api/api-client.js';
import { ConfirmHost } from '../components/confirm-dialog.js';
import { NoticeHost } from '../components/notices.js';
import { ConnectionListPage } from '../connections/connection-list-page.js';
import { ConsumerListPage } from '../connections/consumer-list-page.js';
import { ExchangeListPage } from '../exchanges/exchange-list-page.js';
import { ExchangePage } from '../exchanges/exchange-page.js';
import { OverviewPage } from '../overview/overview-page.js';
import { QueueListPage } from '../queues/queue-list-page.js';
import { QueuePage } from '../queues/queue-page.js';
import { StreamListPage } from '../streams/stream-list-page.js';
import { StreamPage } from '../streams/stream-page.js';
import { ApiContext } from './api-context.js';
import { routeHref, useRoute, type Route } from './hash-route.js';
import { LoginPage } from './login-page.js';
import { sessionStore, type Session } from './session-store.js';

const SECTIONS: ReadonlyArray<readonly [string, string]> = [
  ['overview', 'Overview'],
  ['queues', 'Queues'],
  ['streams', 'Streams'],
  ['exchanges', 'Exchanges'],
  ['connections', 'Connections'],
  ['consumers', 'Consumers'],
];

/** The page for a route; list pages without a vhost and name, detail pages with both. */
function Page({ route }: { route: Route }) {
  const { section, vhost, name } = route;
  const detail = vhost !== null && name !== null;
  switch (section) {
    case 'overview':
      return <OverviewPage />;
    case 'queues':
      return detail ? <QueuePage key={`${vhost}/${name}`} vhost={vhost} name={name} /> : <QueueListPage />;
    case 'streams':
      return detail ? <StreamPage key={`${vhost}/${name}`} vhost={vhost} name={name} /> : <StreamListPage />;
    case 'exchanges':
      return detail ? <ExchangePage key={`${vhost}/${name}`} vhost={vhost} name={name} /> : <ExchangeListPage />;
    case 'connections':
      return <ConnectionListPage />;
    case 'consumers':
      return <ConsumerListPage />;
    default:
      return (
        <p class="load-error">
          No page at this address. <a href={routeHref('overview')}>Go to the overview.</a>
        </p>
      );
  }
}

/** The console: the login form until logged in, then the navigation and the page of the route. */
export function App() {
  const [session, setSession] = useState<Session | null>(() => sessionStore.load());
  const [loggedOutBecause, setLoggedOutBecause] = useState<string | null>(null);
  const route = useRoute();

  const api = useMemo(() => {
    if (session === null) return null;
    return new ApiClient(session.authorization, () => {
      // The broker refused the stored login (password changed, user deleted): ask again.
      sessionStore.clear();
      setLoggedOutBecause('The broker no longer accepts your login; log in again.');
      setSession(null);
    });
  }, [session]);

  if (session === null || api === null) {
    return (
      <LoginPage
        reason={loggedOutBecause}
        onLogin={(next) => {
          sessionStore.save(next);
          setLoggedOutBecause(null);
          setSession(next);
        }}
      />
    );
  }

  const logout = (): void => {
    sessionStore.clear();
    setSession(null);
  };

  return (
    <ApiContext.Provider value={api}>
      <header class="top-bar">
        <a class="brand" href={routeHref('overview')}>
          <span class="brand-mark" aria-hidden="true" />
          Ferry
        </a>
        <nav class="main-nav" aria-label="Sections">
          {SECTIONS.map(([section, label]) => (
            <a key={section} href={routeHref(section)} aria-current={route.section === section ? 'page' : undefined}>
              {label}
            </a>
          ))}
        </nav>
        <div class="user">
          <span class="user-name" title="Logged in as">
            {session.user}
          </span>
          <button type="button" class="button button-small" onClick={logout}>
            Log out
          </button>
        </div>
      </header>
      <main class="content">
        <Page route={route} />
      </main>
      <NoticeHost />
      <ConfirmHost />
    </ApiContext.Provider>
  );
}
