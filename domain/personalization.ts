/**
 * Routee's personalization: `[~label]` in a campaign body is replaced, per recipient, by the value of that
 * label on the recipient's contact (its own fields — firstName, lastName, mobile, email, country — or a custom
 * label), else by the campaign's fallback for the label, else by nothing.
 */

const PLACEHOLDER = /\[~([A-Za-z0-9_.-]{1,64})\]/g;

/** The labels a body uses, each once, in the order they first appear. */
export function bodyLabels(body: string): string[] {
  const seen = new Set<string>();
  for (const m of body.matchAll(PLACEHOLDER)) seen.add(m[1]!);
  return [...seen];
}

/**
 * The fallbacks as a label → value map. Every real Routee client sends an object (`{"firstName":"friend"}`); the
 * seed documents an array of strings, read here as the defaults of the body's labels in the order they first
 * appear (the first string for the first label, and so on; extra strings are ignored).
 */
export function fallbackMap(body: string, fallbackValues: Record<string, string> | string[] | undefined): Record<string, string> {
  if (!fallbackValues) return {};
  if (!Array.isArray(fallbackValues)) return { ...fallbackValues };
  const labels = bodyLabels(body);
  const map: Record<string, string> = {};
  labels.forEach((label, i) => {
    if (i < fallbackValues.length) map[label] = fallbackValues[i]!;
  });
  return map;
}

/** The body as one recipient receives it. `values` are the recipient's labels (absent for a bare number). */
export function personalize(body: string, values: Readonly<Record<string, string | undefined>> | undefined, fallbacks: Readonly<Record<string, string>>): string {
  return body.replace(PLACEHOLDER, (_all, label: string) => {
    const own = values?.[label];
    if (own !== undefined && own !== '') return own;
    return fallbacks[label] ?? '';
  });
}
