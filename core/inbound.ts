import { randomUUID } from 'node:crypto';
import type { Logger } from '../config/logger';
import { ContactError, type ContactStore } from '../db/contacts';
import { bareNumber, type OptInRequestRow, type OptOutStore } from '../db/opt-outs';
import type { InboundSms } from '../providers/types';

/** Words that opt a number out of an account's messages (the carriers' usual set; case and spaces ignored). */
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
/** Words that confirm a double opt-in the number was asked for. */
const YES_WORDS = new Set(['YES', 'Y']);
/** Words that take a STOP back (the carriers' usual pair). */
const START_WORDS = new Set(['START', 'UNSTOP']);

export type InboundKeyword = 'STOP' | 'YES' | 'START';

/** The keyword an inbound text is, if it is one: the whole message, one word, any case ("Stop", " YES! "). */
export function keywordOf(text: string): InboundKeyword | undefined {
  const word = text
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if (STOP_WORDS.has(word)) return 'STOP';
  if (YES_WORDS.has(word)) return 'YES';
  if (START_WORDS.has(word)) return 'START';
  return undefined;
}

/**
 * Sends one SMS from the account's number, under a bulk id of the caller's choosing (so that a retry is refused as
 * a duplicate rather than sent twice). Absent where no Temporal client is at hand: confirmations are then not sent.
 */
export type ReplySender = (accountId: string, bulkId: string, from: string, to: string, text: string) => Promise<void>;

/**
 * Takes mobile-originated messages from the provider: each is kept for the account that owns the number it was
 * sent to (INBOUND_NUMBERS; kept without an account when none does), a STOP opts the sender out for that account
 * (every dialect: nothing more of any campaign reaches it, queued messages included), a START takes a STOP back, and a YES confirms the
 * double opt-in the number was asked for (ProTexting contacts-opt-in): its contact becomes DOUBLE_CONFIRMED, joins
 * the groups of the request, and gets the request's ConfirmMessage. Every step is idempotent and the message is
 * recorded last, so a redelivery after a failure midway finishes the work, and one after success does nothing.
 */
export function inboundHandler(deps: { optOuts: OptOutStore; contacts: ContactStore; owners: Map<string, string>; logger: Logger; reply?: ReplySender }) {
  const { optOuts, contacts, owners, logger, reply } = deps;
  return async (messages: InboundSms[]): Promise<void> => {
    for (const mo of messages) {
      const id = mo.providerId ?? randomUUID();
      if (await optOuts.inboundSeen(id)) continue;
      const to = bareNumber(mo.to);
      const accountId = owners.get(to) ?? null;
      const keyword = keywordOf(mo.text) ?? null;
      if (!accountId) {
        logger.warn({ to }, 'inbound message to a number no account owns (INBOUND_NUMBERS); kept, not acted on');
      } else if (keyword === 'STOP') {
        await optOuts.optOut(accountId, [mo.from], 'MO:STOP');
        logger.info({ accountId }, 'a number opted out by STOP');
      } else if (keyword === 'START') {
        await optOuts.optBackIn(accountId, mo.from, mo.receivedAt);
        logger.info({ accountId }, 'a number opted back in by START');
      } else if (keyword === 'YES') {
        const request = await optOuts.optInRequest(accountId, mo.from);
        if (request) await confirmOptIn(accountId, to, id, request, mo.receivedAt);
      }
      await optOuts.recordInbound({
        id,
        account_id: accountId,
        from_number: bareNumber(mo.from),
        to_number: to,
        text: mo.text.slice(0, 2000),
        keyword,
        received_at: mo.receivedAt,
      });
    }
  };

  async function confirmOptIn(accountId: string, ourNumber: string, inboundId: string, request: OptInRequestRow, at: number): Promise<void> {
    const mobile = `+${request.number}`;
    // A YES to the account's call to action undoes an earlier STOP: the number asked again.
    await optOuts.optBackIn(accountId, mobile, at);
    let contact = await contacts.findByMobile(accountId, mobile);
    contact ??= await contacts.createContact(accountId, { mobile, optIn: 'DOUBLE_CONFIRMED' }, at).catch(async (err: unknown) => {
      // Created meanwhile (a redelivery racing this one): use that one.
      if (err instanceof ContactError && err.kind === 'MOBILE_EXISTS') return (await contacts.findByMobile(accountId, mobile))!;
      throw err;
    });
    await contacts.setOptIn(accountId, contact.id, 'DOUBLE_CONFIRMED', at);
    for (const groupId of JSON.parse(request.group_ids) as number[]) {
      await contacts.setMembership(accountId, groupId, [contact.id], true).catch((err: unknown) => {
        // A group deleted since the request: the contact is confirmed, just not in it.
        if (!(err instanceof ContactError)) throw err;
      });
    }
    if (request.confirm_message && reply) {
      await reply(accountId, `optin-${inboundId}`, ourNumber, request.number, request.confirm_message).catch((err: unknown) => {
        if ((err as Error).name !== 'BulkAlreadyExistsError') throw err;
      });
    }
    await optOuts.closeOptInRequest(request);
    logger.info({ accountId }, 'a double opt-in confirmed by YES');
  }
}
