import type { StatusName } from '../domain/status';

/** One SMS handed to a provider. `reference` is unique per message across accounts (account:messageId). */
export interface OutboundSms {
  reference: string;
  to: string;
  from: string | null;
  text: string;
  flash: boolean;
}

export type SubmitResult =
  | { reference: string; accepted: true; providerMessageId: string }
  | { reference: string; accepted: false; status: StatusName };

export interface ProviderDeliveryReport {
  reference: string;
  providerMessageId: string;
  status: StatusName;
  doneAt: number;
}

export type DeliveryReportListener = (reports: ProviderDeliveryReport[]) => void | Promise<void>;

/**
 * What the orchestrator needs from an SMS provider. `lookup` lets a retried batch learn which in-doubt
 * messages the provider already holds, so none is submitted twice.
 */
export interface SmsProvider {
  readonly name: string;
  submit(messages: OutboundSms[]): Promise<SubmitResult[]>;
  lookup(references: string[]): Promise<Map<string, string>>;
  onDeliveryReports(listener: DeliveryReportListener): void;
  close(): Promise<void>;
}

export function messageReference(accountId: string, messageId: string): string {
  return `${accountId}:${messageId}`;
}

export function parseReference(reference: string): { accountId: string; messageId: string } {
  const at = reference.indexOf(':');
  return { accountId: reference.slice(0, at), messageId: reference.slice(at + 1) };
}
