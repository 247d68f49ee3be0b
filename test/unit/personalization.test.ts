import { bodyAnalysis, campaignState, routeeStatusOf } from '../../core/campaign-service';
import { bodyLabels, fallbackMap, personalize } from '../../domain/personalization';

test('labels are found once each, in order of first appearance', () => {
  expect(bodyLabels('Hi [~firstName] [~lastName], [~firstName]! [~city]')).toEqual(['firstName', 'lastName', 'city']);
  expect(bodyLabels('no labels [~] [~ bad]')).toEqual([]);
});

test("a contact's value wins, then the fallback, then nothing", () => {
  const fallbacks = { firstName: 'friend', city: 'your city' };
  expect(personalize('Hi [~firstName] from [~city][~missing]', { firstName: 'Ann', city: '' }, fallbacks)).toBe('Hi Ann from your city');
  expect(personalize('Hi [~firstName]', undefined, fallbacks)).toBe('Hi friend');
  expect(personalize('Hi [~firstName]', undefined, {})).toBe('Hi ');
});

test('fallbackValues as an object (every client) or as the seed’s array (labels in order of first appearance)', () => {
  const body = 'Dear [~lastName] [~firstName], again [~lastName]';
  expect(fallbackMap(body, { firstName: 'A' })).toEqual({ firstName: 'A' });
  expect(fallbackMap(body, ['Customer', 'dear', 'extra'])).toEqual({ lastName: 'Customer', firstName: 'dear' });
  expect(fallbackMap(body, ['Customer'])).toEqual({ lastName: 'Customer' });
  expect(fallbackMap(body, undefined)).toEqual({});
});

test('body analysis: characters, parts, unicode, unsupported characters, transcode only when it saves parts', () => {
  expect(bodyAnalysis('Hello', false)).toEqual({ characters: 5, parts: 1, unicode: false, unsupportedGSMCharacters: [] });
  const greek = 'Γειά σου κόσμε '.repeat(6);
  const a = bodyAnalysis(greek, true);
  expect(a.unicode).toBe(true);
  expect(a.parts).toBeGreaterThan(1);
  expect(a.unsupportedGSMCharacters).toContain('ε');
  expect(a.transcode!.parts).toBeLessThan(a.parts);
  // One Unicode part is sent as it is.
  expect(bodyAnalysis('Γειά', true).transcode).toBeUndefined();
});

test('campaign states and message statuses in Routee words', () => {
  expect(campaignState('PENDING', 2000, 1000)).toBe('Scheduled');
  expect(campaignState('PENDING', 1000, 2000)).toBe('Queued');
  expect(campaignState('PROCESSING', 0, 1)).toBe('Running');
  expect(campaignState('FINISHED', 0, 1)).toBe('Sent');
  expect(campaignState('CANCELED', 0, 1)).toBe('Cancelled');
  expect(routeeStatusOf('PENDING_ACCEPTED')).toBe('Queued');
  expect(routeeStatusOf('PENDING_ENROUTE')).toBe('Sent');
  expect(routeeStatusOf('DELIVERED_TO_HANDSET')).toBe('Delivered');
  expect(routeeStatusOf('DELIVERED_TO_OPERATOR')).toBe('Sent');
  expect(routeeStatusOf('UNDELIVERABLE_NOT_DELIVERED')).toBe('Undelivered');
  expect(routeeStatusOf('EXPIRED_EXPIRED')).toBe('Undelivered');
  expect(routeeStatusOf('REJECTED_CANCELED')).toBe('Unsent');
  expect(routeeStatusOf('REJECTED_NETWORK')).toBe('Failed');
});
