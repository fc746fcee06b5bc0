import { useEffect, useState } from 'preact/hooks';
import { apiPath } from '../api/api-client.js';
import type { Vhost } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { SelectField } from './form-fields.js';

/** A choice of the vhosts the user may see, for declare forms. */
export function VhostField({ value, onChange, testId }: { value: string; onChange: (vhost: string) => void; testId?: string }) {
  const api = useApi();
  const [vhosts, setVhosts] = useState<readonly string[]>([value]);
  useEffect(() => {
    let live = true;
    api
      .get<Vhost[]>(apiPath`/vhosts`)
      .then((list) => {
        if (live && list.length > 0) setVhosts(list.map((vhost) => vhost.name));
      })
      .catch(() => undefined); // Keep the default vhost; the declare will say what is wrong.
    return () => {
      live = false;
    };
  }, [api]);
  return <SelectField label="Virtual host" value={value} onChange={onChange} options={vhosts.map((name) => [name, name] as const)} {...(testId ? { testId } : {})} />;
}
