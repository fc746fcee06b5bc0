import type { ComponentChildren } from 'preact';

/** One figure of a {@link StatList}. */
export interface Stat {
  readonly label: string;
  readonly value: ComponentChildren;
  readonly testId?: string;
}

/** Key figures as a grid of small cards (wraps to two columns on a phone). */
export function StatList({ stats }: { stats: readonly Stat[] }) {
  return (
    <dl class="stat-list">
      {stats.map((stat) => (
        <div class="stat" key={stat.label}>
          <dt>{stat.label}</dt>
          <dd data-testid={stat.testId}>{stat.value}</dd>
        </div>
      ))}
    </dl>
  );
}
