import { randomUUID } from 'node:crypto';
import type { Logger } from '../config/logger';
import { ContactError, type ContactStore } from '../db/contacts';
import type { OptOutStore } from '../db/opt-outs';
import type { InboundSms } from '../providers/types';

/** Words that opt a number out of an account's messages (the carriers' usual set; case and spaces ignored). */
const STOP_WORDS = new Set(['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT']);
/** Words that confirm a double opt-in the number was asked for. */
const YES_WORDS = new Set(['YES', 'Y']);

export type InboundKeyword = 'STOP' | 'YES';

/** The keyword an inbound text is, if it is one: the whole message, one word, any case ("Stop", " YES! "). */
export function keywordOf(text: string): InboundKeyword | undefined {
  const word = text
    .trim()
    .replace(/[.!]+$/, '')
    .toUpperCase();
  if (STOP_WORDS.has(word)) return 'STOP';
  if (YES_WORDS.has(word)) return 'YES';
  return undefined;
}

/**
 * Takes mobile-originated messages from the provider: each is kept for the account that owns the number it was
 * sent to (INBOUND_NUMBERS; kept without an account when none does), a STOP opts the sender out for that account
 * (every dialect: nothing more of any campaign reaches it, queued messages included), and a YES confirms the
 * double opt-in the number was asked for (ProTexting contacts-opt-in): its contact becomes DOUBLE_CONFIRMED and
 * joins the groups of the request. Redeliveries (same provider id) are recognised and do nothing.
 */
export function inboundHandler(deps: { optOuts: OptOutStore; contacts: ContactStore; owners: Map<string, string>; logger: Logger }) {
  const { optOuts, contacts, owners, logger } = deps;
  return async (messages: InboundSms[]): Promise<void> => {
    for (const mo of messages) {
      const accountId = owners.get(mo.to.replace(/^\+/, '')) ?? null;
      const keyword = keywordOf(mo.text) ?? null;
      const fresh = await optOuts.recordInbound({
        id: mo.providerId ?? randomUUID(),
        account_id: accountId,
        from_number: mo.from.replace(/^\+/, ''),
        to_number: mo.to.replace(/^\+/, ''),
        text: mo.text.slice(0, 2000),
        keyword,
        received_at: mo.receivedAt,
      });
      if (!fresh) continue;
      if (!accountId) {
        logger.warn({ to: mo.to }, 'inbound message to a number no account owns (INBOUND_NUMBERS); kept, not acted on');
        continue;
      }
      if (keyword === 'STOP') {
        await optOuts.optOut(accountId, [mo.from], 'MO:STOP', mo.receivedAt);
        logger.info({ accountId }, 'a number opted out by STOP');
      } else if (keyword === 'YES') {
        await confirmOptIn(accountId, mo);
      }
    }
  };

  async function confirmOptIn(accountId: string, mo: InboundSms): Promise<void> {
    const request = await optOuts.takeOptInRequest(accountId, mo.from);
    if (!request) return;
    const mobile = `+${request.number}`;
    // A YES to the account's call to action undoes an earlier STOP: the number asked again.
    await optOuts.optBackIn(accountId, mobile, mo.receivedAt);
    let contact = await contacts.findByMobile(accountId, mobile);
    contact ??= await contacts.createContact(accountId, { mobile, optIn: 'DOUBLE_CONFIRMED' }, mo.receivedAt);
    await contacts.setOptIn(accountId, contact.id, 'DOUBLE_CONFIRMED', mo.receivedAt);
    for (const groupId of JSON.parse(request.group_ids) as number[]) {
      await contacts.setMembership(accountId, groupId, [contact.id], true).catch((err: unknown) => {
        // A group deleted since the request: the contact is confirmed, just not in it.
        if (!(err instanceof ContactError)) throw err;
      });
    }
    logger.info({ accountId }, 'a double opt-in confirmed by YES');
  }
}
