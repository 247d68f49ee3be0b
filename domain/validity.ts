/** Validity in minutes as Infobip applies it: default and ceiling 48 h; a longer value is lowered, not refused. */
export const MAX_VALIDITY_MINUTES = 2880;

export function effectiveValidityMinutes(requested: number | undefined): number {
  if (requested === undefined) return MAX_VALIDITY_MINUTES;
  return Math.min(requested, MAX_VALIDITY_MINUTES);
}

/** Validity counts from the message's send time: sendAt when scheduled, otherwise acceptance. */
export function validityEndsAt(sendAt: number, requestedMinutes: number | undefined): number {
  return sendAt + effectiveValidityMinutes(requestedMinutes) * 60_000;
}
