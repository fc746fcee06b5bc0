import { useEffect, useState } from 'preact/hooks';

/**
 * The page to show, from the URL's hash: `#/queues/%2F/orders` is
 * `{ section: 'queues', vhost: '/', name: 'orders' }`. Hash routes need no
 * server support: the admin server serves the one index.html at `/`.
 */
export interface Route {
  readonly section: string;
  readonly vhost: string | null;
  readonly name: string | null;
}

/** Parses a location hash. */
export function parseRoute(hash: string): Route {
  const segments = hash.replace(/^#\/?/, '').split('/').filter((segment, index) => index < 3 && (segment.length > 0 || index > 0));
  const decode = (segment: string | undefined): string | null => {
    if (segment === undefined) return null;
    try {
      return decodeURIComponent(segment);
    } catch {
      return segment;
    }
  };
  return { section: decode(segments[0]) || 'overview', vhost: decode(segments[1]), name: decode(segments[2]) };
}

/** The hash of a page: routeHref('queues', '/', 'orders') is `#/queues/%2F/orders`. */
export function routeHref(section: string, vhost?: string, name?: string): string {
  let href = `#/${section}`;
  if (vhost !== undefined) href += `/${encodeURIComponent(vhost)}`;
  if (name !== undefined) href += `/${encodeURIComponent(name)}`;
  return href;
}

/** Goes to a page (adds a history entry). */
export function navigate(href: string): void {
  window.location.hash = href;
}

/** The current route, updated on every hash change. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = (): void => setRoute(parseRoute(window.location.hash));
    window.addEventListener('hashchange', update);
    return () => window.removeEventListener('hashchange', update);
  }, []);
  return route;
}
