import type { LanguageCode } from '../domain/encoding';
import type { StatusName } from '../domain/status';

/** One SMS handed to a provider. `reference` is unique per message across accounts (account:messageId). */
export interface OutboundSms {
  reference: string;
  to: string;
  from: string | null;
  text: string;
  flash: boolean;
  /** National language tables the text may be encoded with (GSM-7 instead of UCS-2). */
  languageCode?: LanguageCode;
  /** When the message stops being worth delivering (epoch ms): SMPP's validity_period. */
  validityEndsAt?: number;
  /** Sent as MMS with this subject and media; only to a provider that `sendsMms`. */
  mms?: { subject?: string; mediaUrl: string };
}

export type SubmitResult =
  | { reference: string; accepted: true; providerMessageId: string }
  | { reference: string; accepted: false; status: StatusName; /** The provider's words for the refusal. */ error?: string };

/**
 * How one submit call is bounded. `deadline` (epoch ms) is the fence: the caller treats the call as failed
 * after it, and a provider that honours it (the simulator does) accepts nothing of the call after it. A later
 * attempt of the same batch waits until every deadline of the earlier one has passed before it asks the
 * provider what it holds (see activities/dispatch-lease.ts).
 */
export interface SubmitOptions {
  signal?: AbortSignal;
  deadline?: number;
}

export interface ProviderDeliveryReport {
  reference: string;
  providerMessageId: string;
  status: StatusName;
  doneAt: number;
  /** The provider's own words for a failure (e.g. an SMPP receipt's `stat:UNDELIV err:001`). */
  error?: string;
}

/**
 * Receives delivery reports. A provider keeps a report until the listener's promise resolves, and delivers it
 * again (later) when the promise rejects or the process dies first: listeners must be idempotent.
 */
export type DeliveryReportListener = (reports: ProviderDeliveryReport[]) => void | Promise<void>;

/** A mobile-originated message: a handset (`from`) wrote to one of our numbers (`to`). Numbers are bare digits. */
export interface InboundSms {
  /** The provider's id for it, when it has one: a redelivered message is recognised by it. */
  providerId?: string;
  from: string;
  to: string;
  text: string;
  receivedAt: number;
}

/** Receives inbound messages; like report listeners, called again with the same messages after a rejection. */
export type InboundListener = (messages: InboundSms[]) => void | Promise<void>;

/**
 * What the orchestrator needs from an SMS provider. `lookup` lets a retried batch learn which in-doubt
 * messages the provider already holds, so none is submitted twice.
 */
export interface SmsProvider {
  readonly name: string;
  /** Whether it can send MMS (campaigns with media are refused up front when it cannot). */
  readonly sendsMms?: boolean;
  submit(messages: OutboundSms[], options?: SubmitOptions): Promise<SubmitResult[]>;
  lookup(references: string[]): Promise<Map<string, string>>;
  onDeliveryReports(listener: DeliveryReportListener): void;
  /** Mobile-originated messages, where the provider brings them (the simulator when told to, SMPP deliver_sm). */
  onInbound?(listener: InboundListener): void;
  close(): Promise<void>;
}

/** A submit refused because it reached the provider after its deadline: nothing of it was accepted. */
export class SubmitDeadlineError extends Error {
  override name = 'SubmitDeadlineError';
}

export function messageReference(accountId: string, messageId: string): string {
  return `${accountId}:${messageId}`;
}

export function parseReference(reference: string): { accountId: string; messageId: string } {
  const at = reference.indexOf(':');
  return { accountId: reference.slice(0, at), messageId: reference.slice(at + 1) };
}
