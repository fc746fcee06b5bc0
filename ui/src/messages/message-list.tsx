import type { BrowsedMessage } from '../api/api-types.js';
import { formatBytes, formatTime } from '../components/format.js';

/**
 * Messages as the browser shows them: position, routing, payload (text, or
 * base64 for binary bodies, cut where the request truncated it), properties and headers.
 */
export function MessageList({ messages }: { messages: readonly BrowsedMessage[] }) {
  if (messages.length === 0) return <p class="empty" data-testid="message-list-empty">No messages.</p>;
  return (
    <ol class="message-list" data-testid="message-list">
      {messages.map((message, index) => {
        const { headers, ...properties } = message.properties;
        const shownProperties = Object.entries(properties).filter(([, value]) => value !== undefined);
        const headerEntries = Object.entries(headers ?? {});
        return (
          <li class="message" key={message.offset !== undefined ? `${message.partition}:${message.offset}` : index} data-testid="message">
            <div class="message-meta">
              <strong>{message.offset !== undefined ? `Partition ${message.partition}, offset ${message.offset}` : `Message ${index + 1}`}</strong>
              <span>
                exchange <code>{message.exchange === '' ? '(default)' : message.exchange}</code>
              </span>
              <span>
                routing key <code>{message.routing_key}</code>
              </span>
              {message.timestamp_ms !== undefined && <span>{formatTime(message.timestamp_ms)}</span>}
              {message.redelivered && <span class="badge">redelivered ×{message.delivery_count}</span>}
              <span>
                {formatBytes(message.payload_bytes)}
                {message.payload_encoding === 'base64' ? ', base64' : ''}
              </span>
            </div>
            <pre class="payload" data-testid="message-payload">
              {message.payload}
            </pre>
            {(shownProperties.length > 0 || headerEntries.length > 0) && (
              <details>
                <summary>
                  Properties ({shownProperties.length}) and headers ({headerEntries.length})
                </summary>
                <table class="key-values">
                  <tbody>
                    {shownProperties.map(([name, value]) => (
                      <tr key={name}>
                        <th scope="row">{name}</th>
                        <td>
                          <code>{String(value)}</code>
                        </td>
                      </tr>
                    ))}
                    {headerEntries.map(([name, value]) => (
                      <tr key={`header:${name}`}>
                        <th scope="row">header {name}</th>
                        <td>
                          <code>{JSON.stringify(value)}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </details>
            )}
          </li>
        );
      })}
    </ol>
  );
}
