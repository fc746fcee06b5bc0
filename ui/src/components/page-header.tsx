import type { ComponentChildren } from 'preact';

/** A page's title, what kind of thing it is, and its actions (buttons) at the right. */
export function PageHeader({ title, kind, children }: { title: string; kind?: string; children?: ComponentChildren }) {
  return (
    <header class="page-header">
      <div>
        {kind && <div class="page-kind">{kind}</div>}
        <h1>{title}</h1>
      </div>
      {children && <div class="page-actions">{children}</div>}
    </header>
  );
}
