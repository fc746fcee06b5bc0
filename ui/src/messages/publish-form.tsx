import { useState } from 'preact/hooks';
import { apiPath, describeError } from '../api/api-client.js';
import type { MessageProperties, PublishRequest, PublishResult } from '../api/api-types.js';
import { useApi } from '../app/api-context.js';
import { CheckboxField, DurationField, durationMs, emptyDuration, integerOf, NumberField, SelectField, TextAreaField, TextField, type DurationValue } from '../components/form-fields.js';
import { notify } from '../components/notices.js';

/** Settings of a {@link PublishForm}. */
export interface PublishFormProps {
  readonly vhost: string;
  /** The exchange's path name (`amq.default` for the default exchange). */
  readonly exchange: string;
  /** A fixed routing key (a queue's or stream's name through the default exchange); otherwise the user types one. */
  readonly routingKey?: string;
  readonly onPublished?: () => void;
}

interface PublishFields {
  routingKey: string;
  payload: string;
  encoding: 'string' | 'base64';
  persistent: boolean;
  contentType: string;
  headers: string;
  messageId: string;
  correlationId: string;
  replyTo: string;
  type: string;
  appId: string;
  priority: string;
  expiration: DurationValue;
  delay: DurationValue;
}

const EMPTY: PublishFields = {
  routingKey: '',
  payload: '',
  encoding: 'string',
  persistent: true,
  contentType: 'text/plain',
  headers: '',
  messageId: '',
  correlationId: '',
  replyTo: '',
  type: '',
  appId: '',
  priority: '',
  expiration: emptyDuration('s'),
  delay: emptyDuration('s'),
};

/**
 * Publishes one message through an exchange (`POST /api/exchanges/…/publish`),
 * with its body, delivery mode, content type, headers (JSON) and the other
 * properties under "More properties". Says whether it was routed.
 */
export function PublishForm({ vhost, exchange, routingKey, onPublished }: PublishFormProps) {
  const api = useApi();
  const [fields, setFields] = useState<PublishFields>(EMPTY);
  const [busy, setBusy] = useState(false);
  const set = <Key extends keyof PublishFields>(key: Key) => (value: PublishFields[Key]) => setFields((current) => ({ ...current, [key]: value }));

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    let headers: Record<string, unknown> | undefined;
    if (fields.headers.trim() !== '') {
      try {
        headers = JSON.parse(fields.headers) as Record<string, unknown>;
        if (headers === null || typeof headers !== 'object' || Array.isArray(headers)) throw new Error('not an object');
      } catch {
        notify('error', 'Headers must be a JSON object, such as {"source": "console"}');
        return;
      }
    }
    const properties: Record<string, unknown> = { delivery_mode: fields.persistent ? 2 : 1 };
    const text: Array<[keyof MessageProperties, string]> = [
      ['content_type', fields.contentType],
      ['message_id', fields.messageId],
      ['correlation_id', fields.correlationId],
      ['reply_to', fields.replyTo],
      ['type', fields.type],
      ['app_id', fields.appId],
    ];
    for (const [name, value] of text) if (value.trim() !== '') properties[name] = value;
    const priority = integerOf(fields.priority);
    if (priority !== undefined) properties['priority'] = priority;
    const expiration = durationMs(fields.expiration);
    if (expiration !== undefined) properties['expiration_ms'] = expiration;
    const delay = durationMs(fields.delay);
    if (delay !== undefined) properties['delay_ms'] = delay;
    if (headers !== undefined) properties['headers'] = headers;
    const request: PublishRequest = {
      routing_key: routingKey ?? fields.routingKey,
      payload: fields.payload,
      payload_encoding: fields.encoding,
      properties: properties as MessageProperties,
    };
    setBusy(true);
    try {
      const result = await api.post<PublishResult>(apiPath`/exchanges/${vhost}/${exchange}/publish`, request);
      if (!result.routed) notify('error', 'Published, but no queue or stream took the message (unroutable)');
      else if (result.rejected_by.length > 0) notify('error', `Published, but refused by ${result.rejected_by.join(', ')} (full)`);
      else notify('success', 'Message published');
      onPublished?.();
    } catch (error) {
      notify('error', `Publish failed: ${describeError(error)}`);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form class="form" onSubmit={(event) => void submit(event)} data-testid="publish-form">
      {routingKey === undefined ? (
        <TextField label="Routing key" value={fields.routingKey} onInput={set('routingKey')} monospace testId="publish-routing-key" />
      ) : (
        <p class="form-note">
          Sent through the default exchange with routing key <code>{routingKey}</code>.
        </p>
      )}
      <TextAreaField label="Payload" value={fields.payload} onInput={set('payload')} rows={5} testId="publish-payload" />
      <div class="form-row">
        <SelectField
          label="Payload encoding"
          value={fields.encoding}
          onChange={set('encoding')}
          options={[
            ['string', 'Text (UTF-8)'],
            ['base64', 'Base64 (binary)'],
          ]}
        />
        <TextField label="Content type" value={fields.contentType} onInput={set('contentType')} />
        <CheckboxField label="Persistent" hint="Delivery mode 2: kept on disk" checked={fields.persistent} onChange={set('persistent')} />
      </div>
      <TextAreaField label="Headers (JSON object)" value={fields.headers} onInput={set('headers')} rows={2} placeholder={'{"source": "console"}'} />
      <details class="more">
        <summary>More properties</summary>
        <div class="form-grid">
          <TextField label="Message id" value={fields.messageId} onInput={set('messageId')} />
          <TextField label="Correlation id" value={fields.correlationId} onInput={set('correlationId')} />
          <TextField label="Reply to" value={fields.replyTo} onInput={set('replyTo')} />
          <TextField label="Type" value={fields.type} onInput={set('type')} />
          <TextField label="App id" value={fields.appId} onInput={set('appId')} />
          <NumberField label="Priority" value={fields.priority} onInput={set('priority')} max={255} />
          <DurationField label="Expiration (TTL)" value={fields.expiration} onChange={set('expiration')} />
          <DurationField label="Delay" value={fields.delay} onChange={set('delay')} />
        </div>
      </details>
      <div class="actions">
        <button type="submit" class="button button-primary" disabled={busy} data-testid="publish-submit">
          {busy ? 'Publishing…' : 'Publish message'}
        </button>
      </div>
    </form>
  );
}
