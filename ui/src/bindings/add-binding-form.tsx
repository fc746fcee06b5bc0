import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import { useApi } from '../app/api-context.js';
import { SelectField, TextAreaField, TextField } from '../components/form-fields.js';
import { notify } from '../components/notices.js';

/** One end of the binding the form makes is fixed by the page it is on. */
export type BindingEnd = { readonly side: 'source'; readonly exchange: string } | { readonly side: 'destination'; readonly kind: 'queue' | 'exchange'; readonly name: string };

/**
 * Binds an exchange to a queue or exchange (`POST /api/bindings/…`): on a
 * queue page the user names the source exchange, on an exchange page the
 * destination. Arguments are a JSON object (for headers exchanges).
 */
export function AddBindingForm({ vhost, fixed, onBound }: { vhost: string; fixed: BindingEnd; onBound: () => void }) {
  const api = useApi();
  const [other, setOther] = useState('');
  const [kind, setKind] = useState<'queue' | 'exchange'>('queue');
  const [routingKey, setRoutingKey] = useState('');
  const [argumentsText, setArgumentsText] = useState('');

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    let bindingArguments: Record<string, unknown> | undefined;
    if (argumentsText.trim() !== '') {
      try {
        bindingArguments = JSON.parse(argumentsText) as Record<string, unknown>;
      } catch {
        notify('error', 'Arguments must be a JSON object, such as {"x-match": "any"}');
        return;
      }
    }
    const source = fixed.side === 'source' ? fixed.exchange : other;
    const destinationKind = fixed.side === 'destination' ? fixed.kind : kind;
    const destination = fixed.side === 'destination' ? fixed.name : other;
    const path = apiPath`/bindings/${vhost}/e/${source}/${destinationKind === 'queue' ? 'q' : 'e'}/${destination}`;
    try {
      await api.post(path, { routing_key: routingKey, ...(bindingArguments ? { arguments: bindingArguments } : {}) });
      notify('success', `Bound ${source} → ${destination}`);
      setOther('');
      setRoutingKey('');
      onBound();
    } catch (error) {
      notify('error', `Bind failed: ${describeError(error)}`);
    }
  };

  return (
    <form class="form" onSubmit={(event) => void submit(event)} data-testid="add-binding-form">
      <div class="form-row">
        {fixed.side === 'source' && (
          <SelectField
            label="To"
            value={kind}
            onChange={setKind}
            options={[
              ['queue', 'Queue'],
              ['exchange', 'Exchange'],
            ]}
          />
        )}
        <TextField label={fixed.side === 'source' ? (kind === 'queue' ? 'Queue name' : 'Exchange name') : 'From exchange'} value={other} onInput={setOther} required monospace testId="binding-other" />
        <TextField label="Routing key" value={routingKey} onInput={setRoutingKey} monospace testId="binding-routing-key" />
      </div>
      <TextAreaField label="Arguments (JSON object, optional)" value={argumentsText} onInput={setArgumentsText} rows={2} />
      <div class="actions">
        <button type="submit" class="button button-primary">
          Bind
        </button>
      </div>
    </form>
  );
}
