/**
 * Prepaid balances: a bulk or campaign the balance cannot pay is refused before anything is stored or sent;
 * what is accepted is taken at once, given back for what never reaches the provider (canceled), and never
 * overdrawn by requests racing each other. Accounts without a balance are unlimited.
 */
import request from 'supertest';
import { Pricing } from '../../core/pricing';
import { devServerSuite, eventually } from '../helpers/stack';

const suite = devServerSuite({
  simulator: { deliveryDelayMs: 100 },
  pricing: Pricing.parse('default:0.05,30:0.04')!,
  balances: new Map([['acme', 200_000]]), // 0.20
});
const ACME_ROUTEE = 'Bearer acme-secret-key-1';
const ACME_INFOBIP = 'App acme-secret-key-1';
const GLOBEX = 'Bearer globex-secret-key-2';
const api = () => request(suite.app);
const balance = async (auth = ACME_ROUTEE) => (await api().get('/accounts/me/balance').set('Authorization', auth).expect(200)).body.balance as number | null;
const greek = (n: number, from = 10) => Array.from({ length: n }, (_, i) => `+3069485309${String(from + i).padStart(2, '0')}`);
const inAnHour = () => new Date(Date.now() + 3_600_000).toISOString();

test('balances in both dialects; an account without one is unlimited', async () => {
  expect((await api().get('/accounts/me/balance').set('Authorization', ACME_ROUTEE).expect(200)).body).toEqual({
    balance: 0.2,
    unlimited: false,
    currency: { code: 'EUR', name: 'Euro', sign: '€' },
  });
  expect((await api().get('/account/1/balance').set('Authorization', ACME_INFOBIP).expect(200)).body).toEqual({ balance: 0.2, currency: 'EUR', unlimited: false });
  expect(await balance(GLOBEX)).toBeNull();
  await api().get('/account/1/balance').expect(401);
});

test('a campaign the balance cannot pay is refused with 400001009; nothing is stored, nothing taken', async () => {
  const res = await api().post('/sms/campaign').set('Authorization', ACME_ROUTEE).send({ from: 'Shop', body: 'x', to: greek(6), campaignName: 'Too dear' });
  expect(res.status).toBe(400);
  expect(res.body.code).toBe('400001009');
  expect(await balance()).toBe(0.2);
  // The name was not taken by the refused campaign.
  const cheap = await api().post('/sms/campaign').set('Authorization', ACME_ROUTEE).send({ from: 'Shop', body: 'x', to: greek(2), campaignName: 'Too dear', scheduledDate: inAnHour() }).expect(200);
  expect(await balance()).toBeCloseTo(0.12, 6);
  // Canceled before sending: given back.
  await api().delete(`/sms/${cheap.body.trackingId}`).set('Authorization', ACME_ROUTEE).expect(200);
  await eventually(async () => (await balance()) === 0.2);
});

test('what is sent stays charged, by parts; requests racing for the last of the balance never overdraw it', async () => {
  // 161 GSM characters: two parts, 0.10 to a Swiss number.
  await api()
    .post('/sms/2/text/advanced')
    .set('Authorization', ACME_INFOBIP)
    .send({ messages: [{ destinations: [{ to: '41793026780' }], text: 'x'.repeat(161) }] })
    .expect(200);
  expect(await balance()).toBeCloseTo(0.1, 6);
  await eventually(async () => (await suite.stack.repo.logs('acme', { limit: 10 })).some((m) => m.status_name === 'DELIVERED_TO_HANDSET'));
  expect(await balance()).toBeCloseTo(0.1, 6);

  // Five requests of 0.04 each at once against 0.10: exactly two are accepted.
  const results = await Promise.all(
    greek(5, 40).map((to) => api().post('/sms/campaign').set('Authorization', ACME_ROUTEE).send({ from: 'Shop', body: 'x', to: [to], scheduledDate: inAnHour() })),
  );
  expect(results.filter((r) => r.status === 200)).toHaveLength(2);
  expect(results.filter((r) => r.status === 400).map((r) => r.body.code)).toEqual(['400001009', '400001009', '400001009']);
  expect(await balance()).toBeCloseTo(0.02, 6);

  const refused = await api().post('/sms/2/text/advanced').set('Authorization', ACME_INFOBIP).send({ messages: [{ destinations: [{ to: '41793026781' }], text: 'y' }] });
  expect(refused.status).toBe(400);
  expect(refused.body.requestError.serviceException.messageId).toBe('NOT_ENOUGH_CREDITS');
  // An unlimited account is not held back.
  await api().post('/sms/campaign').set('Authorization', GLOBEX).send({ from: 'Shop', body: 'x', to: greek(10), scheduledDate: inAnHour() }).expect(200);
});
