import type { ComponentChildren } from 'preact';

/** What every field takes: its label, an optional hint under it, a test id for the browser tests. */
interface FieldProps {
  readonly label: string;
  readonly hint?: string;
  readonly testId?: string;
}

/** A label above the control, an optional hint under it: the layout of every field. */
function Field({ label, hint, children }: { label: string; hint?: string | undefined; children: ComponentChildren }) {
  return (
    <label class="field">
      <span class="field-label">{label}</span>
      {children}
      {hint && <span class="field-hint">{hint}</span>}
    </label>
  );
}

/** One line of text (names, routing keys); `monospace` for names the broker compares byte by byte. */
export function TextField(props: FieldProps & { value: string; onInput: (value: string) => void; required?: boolean; placeholder?: string; pattern?: string; monospace?: boolean }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <input
        type="text"
        class={props.monospace ? 'mono' : undefined}
        value={props.value}
        required={props.required}
        placeholder={props.placeholder}
        pattern={props.pattern}
        spellcheck={false}
        autocomplete="off"
        onInput={(event) => props.onInput(event.currentTarget.value)}
        data-testid={props.testId}
      />
    </Field>
  );
}

/** Several lines of text in a fixed-width font (payloads, JSON). */
export function TextAreaField(props: FieldProps & { value: string; onInput: (value: string) => void; rows?: number; placeholder?: string }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <textarea
        class="mono"
        rows={props.rows ?? 4}
        value={props.value}
        placeholder={props.placeholder}
        spellcheck={false}
        onInput={(event) => props.onInput(event.currentTarget.value)}
        data-testid={props.testId}
      />
    </Field>
  );
}

/** A whole number, or empty for "not set". */
export function NumberField(props: FieldProps & { value: string; onInput: (value: string) => void; min?: number; max?: number; placeholder?: string }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <input
        type="number"
        inputMode="numeric"
        step={1}
        min={props.min ?? 0}
        max={props.max}
        value={props.value}
        placeholder={props.placeholder}
        onInput={(event) => props.onInput(event.currentTarget.value)}
        data-testid={props.testId}
      />
    </Field>
  );
}

/** A yes/no setting with its label beside the box. */
export function CheckboxField(props: FieldProps & { checked: boolean; onChange: (checked: boolean) => void }) {
  return (
    <label class="field field-checkbox">
      <input type="checkbox" checked={props.checked} onChange={(event) => props.onChange(event.currentTarget.checked)} data-testid={props.testId} />
      <span class="field-label">{props.label}</span>
      {props.hint && <span class="field-hint">{props.hint}</span>}
    </label>
  );
}

/** One of a fixed list of values, each with the text shown for it. */
export function SelectField<Value extends string>(props: FieldProps & { value: Value; onChange: (value: Value) => void; options: ReadonlyArray<readonly [Value, string]> }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <select value={props.value} onChange={(event) => props.onChange(event.currentTarget.value as Value)} data-testid={props.testId}>
        {props.options.map(([value, text]) => (
          <option key={value} value={value}>
            {text}
          </option>
        ))}
      </select>
    </Field>
  );
}

/** Units a {@link DurationField} offers, in milliseconds. */
const DURATION_UNITS = [
  ['ms', 1],
  ['s', 1_000],
  ['min', 60_000],
  ['h', 3_600_000],
  ['d', 86_400_000],
] as const;

/** A duration's text and unit as a form keeps them; empty text is "not set". */
export interface DurationValue {
  readonly amount: string;
  readonly unit: (typeof DURATION_UNITS)[number][0];
}

/** An empty duration in `unit`. */
export function emptyDuration(unit: DurationValue['unit'] = 's'): DurationValue {
  return { amount: '', unit };
}

/** Milliseconds of a duration, undefined when not set; NaN when not a number. */
export function durationMs(value: DurationValue): number | undefined {
  if (value.amount.trim() === '') return undefined;
  const factor = DURATION_UNITS.find(([unit]) => unit === value.unit)![1];
  return Math.round(Number(value.amount) * factor);
}

/** A number with a unit (ms to days), for TTLs, expiry and retention. */
export function DurationField(props: FieldProps & { value: DurationValue; onChange: (value: DurationValue) => void }) {
  return (
    <Field label={props.label} hint={props.hint}>
      <span class="with-unit">
        <input
          type="number"
          inputMode="decimal"
          min={0}
          step="any"
          value={props.value.amount}
          onInput={(event) => props.onChange({ ...props.value, amount: event.currentTarget.value })}
          data-testid={props.testId}
        />
        <select aria-label={`${props.label} unit`} value={props.value.unit} onChange={(event) => props.onChange({ ...props.value, unit: event.currentTarget.value as DurationValue['unit'] })}>
          {DURATION_UNITS.map(([unit]) => (
            <option key={unit} value={unit}>
              {unit}
            </option>
          ))}
        </select>
      </span>
    </Field>
  );
}

/** A whole number from a form field: undefined when empty. */
export function integerOf(text: string): number | undefined {
  return text.trim() === '' ? undefined : Number(text);
}
