/** Short flags beside a name: durable, auto-delete, exclusive, internal… Only the true ones show. */
export function Badges({ flags }: { flags: Readonly<Record<string, boolean>> }) {
  const shown = Object.entries(flags).filter(([, on]) => on);
  if (shown.length === 0) return null;
  return (
    <span class="badges">
      {shown.map(([name]) => (
        <span class="badge" key={name}>
          {name}
        </span>
      ))}
    </span>
  );
}
