/**
 * The SMPP transport against an SMSC that is not the client library's own code: jsmpp's server side, run as a
 * process (test/smsc). Bind, windowed submits, encodings on the wire, receipts into reports, throttling, refusals,
 * bad credentials, an SMSC killed mid-stream, and a submit whose answer never came (in doubt, never sent twice).
 */
import { migrateToLatest, openDatabase, type Db } from '../../db/database';
import { SmppBindRefusedError } from '../../providers/smpp/link';
import { SmppProvider, type SmppProviderOptions } from '../../providers/smpp/provider';
import type { InboundSms, OutboundSms, ProviderDeliveryReport } from '../../providers/types';
import { selfSignedKeystore, type SmscOptions, TestSmsc } from '../helpers/smsc';
import { eventually } from '../helpers/stack';

const open: Array<{ close(): Promise<void> }> = [];
const smscs: TestSmsc[] = [];

afterEach(async () => {
  for (const p of open.splice(0)) await p.close();
  for (const s of smscs.splice(0)) await s.kill();
});

async function smscWith(options: SmscOptions = {}): Promise<TestSmsc> {
  const smsc = await TestSmsc.start(options);
  smscs.push(smsc);
  return smsc;
}

async function providerFor(smsc: TestSmsc, extra: Partial<SmppProviderOptions> = {}): Promise<{ provider: SmppProvider; db: Db; reports: ProviderDeliveryReport[]; inbound: InboundSms[] }> {
  const db = openDatabase({ sqliteFile: ':memory:' });
  await migrateToLatest(db);
  const provider = new SmppProvider({
    db,
    ...smsc.bindOptions(),
    window: 10,
    responseTimeoutMs: 2000,
    reconnectMinMs: 100,
    reconnectMaxMs: 500,
    sweepIntervalMs: 200,
    ...extra,
  });
  const reports: ProviderDeliveryReport[] = [];
  const inbound: InboundSms[] = [];
  provider.onDeliveryReports((r) => void reports.push(...r));
  provider.onInbound((m) => void inbound.push(...m));
  open.push({ close: async () => (await provider.close(), await db.destroy()) });
  await provider.start();
  return { provider, db, reports, inbound };
}

const sms = (reference: string, to: string, text: string, extra: Partial<OutboundSms> = {}): OutboundSms => ({
  reference,
  to,
  from: 'InfoSMS',
  text,
  flash: false,
  validityEndsAt: Date.now() + 3_600_000,
  ...extra,
});

/** The UDH of a short_message (hex) when the UDHI bit is set: its information elements. */
function udhOf(hex: string): number[] {
  const b = Buffer.from(hex, 'hex');
  return [...b.subarray(1, 1 + b[0]!)];
}

test('encodings on the wire: GSM-7, the Turkish single shift, UCS-2 with an emoji, flash, a long text in UDH parts; receipts become reports', async () => {
  const smsc = await smscWith();
  const { provider, reports } = await providerFor(smsc);
  const long = 'Long message part test. '.repeat(12).trim(); // 287 GSM-7 characters: two parts
  const results = await provider.submit([
    sms('acme:plain', '41793026701', 'Hello {name}'),
    sms('acme:turkish', '90532000001', 'Şükrü, ışıklı ağaç', { languageCode: 'TR' }),
    sms('acme:emoji', '41793026702', 'Grüße 😀'),
    sms('acme:flash', '41793026703', 'Flash!', { flash: true }),
    sms('acme:long', '41793026704', long),
  ]);
  expect(results.every((r) => r.accepted)).toBe(true);
  const byTo = (to: string) => smsc.accepted().filter((a) => a.to === to);

  const plain = byTo('41793026701')[0]!;
  expect(plain).toMatchObject({ dataCoding: 0, esmClass: 0, registeredDelivery: 1 });
  // GSM 03.38 unpacked: '{' is the escape 0x1B then 0x28.
  expect(plain.shortMessage).toBe(Buffer.from([...'Hello '].map((c) => c.charCodeAt(0)).concat([0x1b, 0x28], [...'name'].map((c) => c.charCodeAt(0)), [0x1b, 0x29])).toString('hex'));
  expect(plain.validityPeriod).toMatch(/^\d{12}000\+$/);

  // GSM-7 with the Turkish single-shift table (IE 0x24, language 1), not UCS-2.
  const turkish = byTo('90532000001')[0]!;
  expect(turkish.dataCoding).toBe(0);
  expect(turkish.esmClass & 0x40).toBe(0x40);
  expect(udhOf(turkish.shortMessage)).toEqual([0x24, 0x01, 0x01]);

  const emoji = byTo('41793026702')[0]!;
  expect(emoji.dataCoding).toBe(8);
  expect(Buffer.from(emoji.shortMessage, 'hex').swap16().toString('utf16le')).toBe('Grüße 😀');

  expect(byTo('41793026703')[0]!.dataCoding).toBe(0x10); // class 0

  const parts = byTo('41793026704');
  expect(parts).toHaveLength(2);
  const headers = parts.map((p) => udhOf(p.shortMessage));
  expect(headers.map((h) => h.slice(0, 2))).toEqual([
    [0x00, 0x03],
    [0x00, 0x03],
  ]);
  expect(headers[0]![2]).toBe(headers[1]![2]); // one reference
  expect(headers.map((h) => [h[3], h[4]])).toEqual([
    [2, 1],
    [2, 2],
  ]);
  // On the air each part is at most 140 octets: the UDH, then the septets packed from the next septet boundary
  // (SMPP carries them one per octet).
  for (const p of parts) {
    const udhOctets = udhOf(p.shortMessage).length + 1;
    const septets = Buffer.from(p.shortMessage, 'hex').length - udhOctets;
    expect(Math.ceil((udhOctets * 8) / 7) + septets).toBeLessThanOrEqual(160);
  }

  // One report per message, a long one when both its parts were delivered.
  await eventually(async () => reports.length >= 5, 45_000);
  expect(new Set(reports.map((r) => r.reference))).toEqual(new Set(['acme:plain', 'acme:turkish', 'acme:emoji', 'acme:flash', 'acme:long']));
  expect(reports.every((r) => r.status === 'DELIVERED_TO_HANDSET')).toBe(true);
  expect(reports.find((r) => r.reference === 'acme:long')!.providerMessageId).toBe(parts.find((p) => udhOf(p.shortMessage)[4] === 1)!.id);
});

test('sar_* TLVs and message_payload, where configured', async () => {
  const smsc = await smscWith();
  const text = 'x'.repeat(200);
  const { provider: sar } = await providerFor(smsc, { longMessages: 'sar' });
  await sar.submit([sms('acme:sar', '41793026710', text)]);
  const sarParts = smsc.accepted().filter((a) => a.to === '41793026710');
  expect(sarParts.map((p) => [p.SAR_TOTAL_SEGMENTS, p.SAR_SEGMENT_SEQNUM])).toEqual([
    [2, 1],
    [2, 2],
  ]);
  expect(sarParts[0]!.SAR_MSG_REF_NUM).toBe(sarParts[1]!.SAR_MSG_REF_NUM);
  expect(sarParts.every((p) => (p.esmClass & 0x40) === 0)).toBe(true);

  const { provider: payload } = await providerFor(smsc, { longMessages: 'payload' });
  await payload.submit([sms('acme:payload', '41793026711', text)]);
  const one = smsc.accepted().filter((a) => a.to === '41793026711');
  expect(one).toHaveLength(1);
  expect(one[0]!.shortMessage).toBe('');
  expect(Buffer.from(one[0]!.messagePayload!, 'hex').toString('latin1')).toBe(text);
});

test('throttling answers (ESME_RTHROTTLED, ESME_RMSGQFUL) slow the sender down and never fail a message', async () => {
  const smsc = await smscWith({ throttleEvery: 5 });
  const { provider, reports } = await providerFor(smsc, { window: 4 });
  const batch = Array.from({ length: 60 }, (_, i) => sms(`acme:t${i}`, String(41793027000 + i), `Throttled ${i}`));
  const results = await provider.submit(batch);
  expect(results.every((r) => r.accepted)).toBe(true);
  // Every message accepted exactly once although every fifth submit_sm was refused as throttled.
  const accepted = smsc.accepted();
  expect(accepted).toHaveLength(60);
  expect(new Set(accepted.map((a) => a.to)).size).toBe(60);
  await eventually(async () => reports.length >= 60);
});

test('a permanent refusal is the message outcome, with the SMPP command status in its error', async () => {
  const smsc = await smscWith({ rejectPrefix: '99' });
  const { provider } = await providerFor(smsc);
  const [ok, bad] = await provider.submit([sms('acme:ok', '41793026720', 'fine'), sms('acme:bad', '99123', 'nowhere')]);
  expect(ok).toMatchObject({ accepted: true });
  expect(bad).toMatchObject({ accepted: false, status: 'REJECTED_INVALID_DESTINATION' });
  expect((bad as { error?: string }).error).toMatch(/ESME_RINVDSTADR \(0x0000000b\)/);
  // Asked again (a retried batch), the journal answers: refused, nothing sent twice.
  const [again] = await provider.submit([sms('acme:bad', '99123', 'nowhere')]);
  expect(again).toMatchObject({ accepted: false, status: 'REJECTED_INVALID_DESTINATION' });
  expect(await provider.lookup(['acme:ok', 'acme:bad'])).toEqual(new Map([['acme:ok', expect.any(String)]]));
});

test('an undeliverable receipt reports UNDELIVERABLE with the receipt words', async () => {
  const smsc = await smscWith({ undeliverablePrefix: '4479' });
  const { provider, reports } = await providerFor(smsc);
  await provider.submit([sms('acme:und', '447900000001', 'lost')]);
  await eventually(async () => reports.length >= 1);
  expect(reports[0]).toMatchObject({ reference: 'acme:und', status: 'UNDELIVERABLE_NOT_DELIVERED', error: 'stat:UNDELIV err:001' });
});

test('a bind refused for bad credentials stops start-up with a clear reason', async () => {
  const smsc = await smscWith();
  const db = openDatabase({ sqliteFile: ':memory:' });
  await migrateToLatest(db);
  const provider = new SmppProvider({ db, ...smsc.bindOptions(), password: 'wrong', window: 1 });
  try {
    const err = await provider.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SmppBindRefusedError);
    expect((err as Error).message).toMatch(/ESME_RINVPASWD.*SMPP_PASSWORD/);
  } finally {
    await provider.close();
    await db.destroy();
  }
});

test('a transmitter and a receiver bind; mobile-originated messages reach the inbound listeners', async () => {
  const smsc = await smscWith();
  const { provider, reports, inbound } = await providerFor(smsc, { bind: 'transmitter-receiver' });
  await provider.submit([sms('acme:trx', '41793026730', 'two sessions')]);
  await eventually(async () => reports.length >= 1);
  smsc.injectMo('41793026730', '15550001111', 'STOP');
  await eventually(async () => inbound.length >= 1);
  expect(inbound[0]).toMatchObject({ from: '41793026730', to: '15550001111', text: 'STOP' });
});

test('the SMSC killed mid-stream: the link binds again, the rest goes, nothing twice, every report arrives', async () => {
  const smsc = await smscWith();
  const { provider, reports } = await providerFor(smsc, { window: 5 });
  const batch = Array.from({ length: 200 }, (_, i) => sms(`acme:k${i}`, String(41793028000 + i), `Kill test ${i}`));
  // As a batch calls it: bounded by its deadline.
  const first = provider.submit(batch, { signal: AbortSignal.timeout(4000), deadline: Date.now() + 4000 });
  await eventually(async () => smsc.accepted().length >= 30, 20_000);
  await smsc.kill();
  // What was on the wire when it died is in doubt, the rest waits for a bind until the deadline: the call fails.
  await expect(first).rejects.toThrow();
  expect(smsc.accepted().length).toBeLessThan(200);
  await smsc.run();
  await eventually(async () => provider.bound, 10_000);
  // The retry, as a batch does it: ask what the provider holds, send the rest.
  const held = await provider.lookup(batch.map((m) => m.reference));
  const rest = batch.filter((m) => !held.has(m.reference));
  const results = await provider.submit(rest);
  expect(results.every((r) => r.accepted)).toBe(true);
  const accepted = smsc.accepted();
  expect(new Set(accepted.map((a) => a.to)).size).toBe(accepted.length); // nothing twice
  // Every message reached the SMSC once, except at most the window in doubt at the kill (never re-sent).
  expect(accepted.length).toBeGreaterThanOrEqual(200 - 5);
  // Every message gets a report: receipts owed across the restart are delivered by the restarted SMSC.
  await eventually(async () => new Set(reports.map((r) => r.reference)).size >= accepted.length, 30_000);
}, 90_000);

test('a submit whose answer never came is in doubt: never sent again, settled by the receipt that echoes its reference', async () => {
  const smsc = await smscWith({ haltAfter: 3 });
  const { provider, reports } = await providerFor(smsc, { window: 1 });
  const batch = Array.from({ length: 6 }, (_, i) => sms(`acme:d${i}`, String(41793029000 + i), `Doubt ${i}`));
  await expect(provider.submit(batch, { signal: AbortSignal.timeout(5000), deadline: Date.now() + 5000 })).rejects.toThrow();
  await smsc.exited();
  expect(smsc.accepted()).toHaveLength(3); // the third was taken, its answer never sent
  await smsc.run({});
  await eventually(async () => provider.bound, 10_000);
  const held = await provider.lookup(batch.map((m) => m.reference));
  // The first three are held (two confirmed, one in doubt); the others were never written and go now.
  expect([...held.keys()].sort()).toEqual(['acme:d0', 'acme:d1', 'acme:d2']);
  // In doubt: no SMSC id, unless the restarted SMSC's receipt already found the part by its echoed reference.
  expect(held.get('acme:d2')).toMatch(/^(smpp-unconfirmed:acme:d2|[0-9a-f]+)$/);
  await provider.submit(batch.filter((m) => !held.has(m.reference)));
  const accepted = smsc.accepted();
  expect(accepted).toHaveLength(6);
  expect(new Set(accepted.map((a) => a.to)).size).toBe(6);
  // The restarted SMSC still owes the in-doubt part's receipt; it echoes user_message_reference, which finds it.
  await eventually(async () => new Set(reports.map((r) => r.reference)).size >= 6, 30_000);
  expect(reports.find((r) => r.reference === 'acme:d2')).toMatchObject({ status: 'DELIVERED_TO_HANDSET' });
}, 60_000);

test('in doubt with no receipt that finds it: EXPIRED_DLR_UNKNOWN once its validity has ended', async () => {
  const smsc = await smscWith({ haltAfter: 1, echoReference: false });
  const { provider, reports } = await providerFor(smsc, { window: 1, expiryGraceMs: 0 });
  await expect(
    provider.submit([sms('acme:x0', '41793029100', 'Never confirmed', { validityEndsAt: Date.now() + 3000 })], { signal: AbortSignal.timeout(5000), deadline: Date.now() + 5000 }),
  ).rejects.toThrow();
  await smsc.exited();
  await smsc.run({ echoReference: false });
  await eventually(async () => reports.length >= 1, 20_000);
  expect(reports[0]).toMatchObject({ reference: 'acme:x0', status: 'EXPIRED_DLR_UNKNOWN' });
  expect(smsc.accepted()).toHaveLength(1);
}, 40_000);

test('SMPP_IN_DOUBT=resend: the part in doubt is written again (at least once), and the message is delivered', async () => {
  const smsc = await smscWith({ haltAfter: 2 });
  const { provider, reports } = await providerFor(smsc, { window: 1, inDoubt: 'resend' });
  const batch = Array.from({ length: 4 }, (_, i) => sms(`acme:r${i}`, String(41793029200 + i), `Resend ${i}`));
  await expect(provider.submit(batch, { signal: AbortSignal.timeout(4000), deadline: Date.now() + 4000 })).rejects.toThrow();
  await smsc.exited();
  await smsc.run({});
  await eventually(async () => provider.bound, 10_000);
  const held = await provider.lookup(batch.map((m) => m.reference));
  expect([...held.keys()]).toEqual(['acme:r0']); // r1 is in doubt: not held, so the retry sends it again
  const results = await provider.submit(batch.filter((m) => !held.has(m.reference)));
  expect(results.every((r) => r.accepted)).toBe(true);
  const tos = smsc.accepted().map((a) => a.to);
  expect(tos.filter((t) => t === '41793029201')).toHaveLength(2);
  expect(new Set(tos).size).toBe(4);
  await eventually(async () => new Set(reports.map((r) => r.reference)).size >= 4, 30_000);
}, 60_000);

test('SMPP_TPS paces the submits of the bind', async () => {
  const smsc = await smscWith();
  const { provider } = await providerFor(smsc, { tps: 10 });
  const results = await provider.submit(Array.from({ length: 25 }, (_, i) => sms(`acme:p${i}`, String(41793029300 + i), `Paced ${i}`)));
  expect(results.every((r) => r.accepted)).toBe(true);
  const at = smsc.accepted().map((a) => a.at).sort((a, b) => a - b);
  // 25 at 10 a second: three one-second budgets, so the last goes at least two seconds' boundaries after the first.
  expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(1000);
  for (let i = 0; i + 20 < at.length; i++) expect(at[i + 20]! - at[i]!).toBeGreaterThanOrEqual(1000);
}, 30_000);

test('SMPP over TLS: a bind to an SMSC with a certificate the configured CA file vouches for; an untrusted one is refused', async () => {
  const tls = selfSignedKeystore();
  const smsc = await smscWith({ tls: { keystore: tls.keystore, password: tls.password } });
  const { provider, reports } = await providerFor(smsc, { tls: true, tlsCa: tls.certPem });
  expect((await provider.submit([sms('acme:tls', '41793026740', 'over TLS')]))[0]).toMatchObject({ accepted: true });
  await eventually(async () => reports.length >= 1);
  expect(reports[0]).toMatchObject({ reference: 'acme:tls', status: 'DELIVERED_TO_HANDSET' });

  const db = openDatabase({ sqliteFile: ':memory:' });
  await migrateToLatest(db);
  const untrusting = new SmppProvider({ db, ...smsc.bindOptions(), window: 1, tls: true });
  try {
    await expect(untrusting.start()).rejects.toThrow(/self.signed certificate/i);
  } finally {
    await untrusting.close();
    await db.destroy();
  }
}, 60_000);

test('the journal forgets a message once its report is out and the retention has passed', async () => {
  const smsc = await smscWith();
  const { provider, reports, db } = await providerFor(smsc, { retentionMs: 1000 });
  await provider.submit([sms('acme:old', '41793026750', 'soon forgotten')]);
  await eventually(async () => reports.length >= 1);
  expect(await provider.lookup(['acme:old'])).toEqual(new Map([['acme:old', expect.any(String)]]));
  await eventually(async () => (await db.selectFrom('smpp_parts').select('reference').execute()).length === 0, 10_000);
  expect(await db.selectFrom('smpp_messages').select('reference').execute()).toEqual([]);
}, 30_000);

test('two workers on one journal: receipts that reach the other bind find their parts, also when they overtake the acceptance', async () => {
  // Immediate receipts: they can arrive before the sender has written the part's acceptance.
  const smsc = await smscWith({ receiptDelayMs: 0 });
  // The first bind is the one the SMSC delivers every receipt to: the other worker's.
  const other = await providerFor(smsc);
  const sender = new SmppProvider({ db: other.db, ...smsc.bindOptions(), window: 10 });
  const senderReports: ProviderDeliveryReport[] = [];
  sender.onDeliveryReports((r) => void senderReports.push(...r));
  await sender.start();
  open.unshift({ close: () => sender.close() });
  const results = await sender.submit(Array.from({ length: 50 }, (_, i) => sms(`acme:w${i}`, String(41793026800 + i), `Two workers ${i}`)));
  expect(results.every((r) => r.accepted)).toBe(true);
  // Either worker may hand a settled outcome to its listeners (each one's sweep reports what is unreported;
  // applying a report twice is harmless): every message is reported, delivered.
  const all = () => [...other.reports, ...senderReports];
  await eventually(async () => new Set(all().map((r) => r.reference)).size >= 50, 45_000).catch((err: Error) => {
    throw new Error(`${err.message}: ${new Set(all().map((r) => r.reference)).size} of 50 reported; SMSC: ${smsc.log().slice(-400)}`);
  });
  expect(all().every((r) => r.status === 'DELIVERED_TO_HANDSET')).toBe(true);
}, 90_000);
