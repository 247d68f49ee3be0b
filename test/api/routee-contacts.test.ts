/**
 * Routee's contacts, labels, blacklists and groups, through the real app and database (SQLite here; the same
 * store runs on PostgreSQL). Every route, every documented error code, and account isolation.
 */
import request from 'supertest';
import { devServerSuite } from '../helpers/stack';

const suite = devServerSuite();
const ACME = 'Bearer acme-secret-key-1';
const GLOBEX = 'Bearer globex-secret-key-2';

const api = () => request(suite.app);
const post = (path: string, body: unknown, auth = ACME) => api().post(path).set('Authorization', auth).send(body as object);

function expectRoutee(res: request.Response, status: number, code: string) {
  expect(res.status).toBe(status);
  expect(res.body).toMatchObject({ code, developerMessage: expect.any(String) });
}

test('a contact is created, read, listed, replaced and deleted, in Routee shapes', async () => {
  await post('/contacts/labels/my', [{ name: 'city', type: 'Text' }]).expect(200);
  const created = await post('/contacts/my', {
    mobile: '+306948530920',
    firstName: 'Nikos',
    lastName: 'Papas',
    email: 'nikos@example.com',
    vip: true,
    labels: [{ name: 'city', value: 'Athens' }],
  }).expect(200);
  expect(created.body).toEqual({
    id: expect.stringMatching(/^[0-9a-f]{24}$/),
    mobile: '+306948530920',
    firstName: 'Nikos',
    lastName: 'Papas',
    email: 'nikos@example.com',
    country: 'GR',
    vip: true,
    groups: ['All', 'NotListed'],
    blacklistedServices: [],
    labels: [{ name: 'city', type: 'Text', value: 'Athens' }],
  });
  const id = created.body.id as string;
  expect((await api().get(`/contacts/my/${id}`).set('Authorization', ACME).expect(200)).body).toEqual(created.body);

  const page = await api().get('/contacts/my?page=0&size=10').set('Authorization', ACME).expect(200);
  expect(page.body).toMatchObject({ totalElements: 1, totalPages: 1, number: 0, size: 10, numberOfElements: 1, first: true, last: true });
  expect(page.body.content[0].id).toBe(id);

  await api().head('/contacts/my/mobile?value=%2B306948530920').set('Authorization', ACME).expect(200);
  await api().head('/contacts/my/mobile?value=%2B306948530921').set('Authorization', ACME).expect(404);

  // PUT replaces the fields: what is not given is cleared.
  const replaced = await api().put(`/contacts/my/${id}`).set('Authorization', ACME).send({ mobile: '+306948530920', firstName: 'Nick' }).expect(200);
  expect(replaced.body).toMatchObject({ id, firstName: 'Nick', vip: false, labels: [] });
  expect(replaced.body.lastName).toBeUndefined();

  await api().delete(`/contacts/my/${id}`).set('Authorization', ACME).expect(200);
  expectRoutee(await api().get(`/contacts/my/${id}`).set('Authorization', ACME), 404, '404002001');
});

test('contact errors carry Routee codes: mobile exists, label not defined, label exists, bad input', async () => {
  await post('/contacts/my', { mobile: '+41793026727' }).expect(200);
  expectRoutee(await post('/contacts/my', { mobile: '+41793026727' }), 409, '409002005');
  expectRoutee(await post('/contacts/my', { mobile: '+41793026728', labels: [{ name: 'shoeSize', value: 44 }] }), 404, '404002012');
  await post('/contacts/labels/my', [{ name: 'shoeSize', type: 'Number' }]).expect(200);
  expectRoutee(await post('/contacts/labels/my', [{ name: 'shoeSize', type: 'Number' }]), 409, '409002011');
  expectRoutee(await post('/contacts/labels/my', [{ name: 'firstName', type: 'Text' }]), 409, '409002011');
  expectRoutee(await post('/contacts/labels/my', [{ name: 'a', type: 'Text' }, { name: 'a', type: 'Text' }]), 400, '400002014');
  const withLabel = await post('/contacts/my', { mobile: '+41793026728', labels: [{ name: 'shoeSize', value: 44 }] }).expect(200);
  expect(withLabel.body.labels).toEqual([{ name: 'shoeSize', type: 'Number', value: '44' }]);

  const labels = await api().get('/contacts/labels/my').set('Authorization', ACME).expect(200);
  expect(labels.body).toMatchObject({ firstName: 'Text', lastName: 'Text', mobile: 'Text', email: 'Text', shoeSize: 'Number' });

  // Without the '+', an impossible number, a bad email, an unknown field type: 400 with the field named.
  for (const body of [{ mobile: '41793026729' }, { mobile: '+1' }, { mobile: '+41793026729', email: 'nope' }, {}]) {
    const res = await post('/contacts/my', body);
    expectRoutee(res, 400, '400002000');
    expect(Object.keys(res.body.properties).length).toBeGreaterThan(0);
  }
  // A second contact may not take another's number through PUT either.
  const other = await post('/contacts/my', { mobile: '+41793026730' }).expect(200);
  expectRoutee(await api().put(`/contacts/my/${other.body.id}`).set('Authorization', ACME).send({ mobile: '+41793026727' }), 409, '409002005');
});

test('groups: create, list with All and NotListed, members, pages, delete', async () => {
  const a = await post('/contacts/my', { mobile: '+447911123456', firstName: 'Ann' }).expect(200);
  const b = await post('/contacts/my', { mobile: '+447911123457', firstName: 'Bob' }).expect(200);
  expect((await post('/groups/my', { name: 'customers' }).expect(200)).body).toEqual({ name: 'customers', size: 0 });
  expectRoutee(await post('/groups/my', { name: 'customers' }), 409, '409002005');
  expectRoutee(await post('/groups/my', { name: 'All' }), 409, '409002005');

  expect((await post('/groups/my/customers/contacts', [a.body.id, b.body.id]).expect(200)).body).toEqual({ name: 'customers', size: 2 });
  expectRoutee(await post('/groups/my/customers/contacts', ['ffffffffffffffffffffffff']), 404, '404002001');
  expectRoutee(await post('/groups/my/nobody/contacts', [a.body.id]), 404, '404002002');

  const inGroup = await api().get(`/contacts/my/${a.body.id}`).set('Authorization', ACME).expect(200);
  expect(inGroup.body.groups).toEqual(['All', 'customers']);
  const members = await api().get('/groups/my/customers/contacts?page=0&size=1').set('Authorization', ACME).expect(200);
  expect(members.body).toMatchObject({ totalElements: 2, totalPages: 2, numberOfElements: 1, first: true, last: false });
  expect(members.body.content[0].firstName).toBe('Ann');

  const groups = await api().get('/groups/my').set('Authorization', ACME).expect(200);
  const names = (groups.body as Array<{ name: string; size: number }>).map((g) => g.name);
  expect(names.slice(0, 2)).toEqual(['All', 'NotListed']);
  expect(groups.body).toContainEqual({ name: 'customers', size: 2 });
  const all = groups.body.find((g: { name: string }) => g.name === 'All');
  const notListed = groups.body.find((g: { name: string }) => g.name === 'NotListed');
  expect(all.size - notListed.size).toBe(2);
  expect((await api().get('/groups/my/customers').set('Authorization', ACME).expect(200)).body).toEqual({ name: 'customers', size: 2 });

  await api().delete('/groups/my/customers/contacts').set('Authorization', ACME).send([b.body.id]).expect(200);
  expect((await api().get('/groups/my/customers').set('Authorization', ACME)).body.size).toBe(1);

  const deleted = await api().delete('/groups/my?deleteContacts=true').set('Authorization', ACME).send(['customers']).expect(200);
  expect(deleted.body).toEqual([{ name: 'customers', deletedContacts: true }]);
  expectRoutee(await api().get('/groups/my/customers').set('Authorization', ACME), 404, '404002002');
  expectRoutee(await api().get(`/contacts/my/${a.body.id}`).set('Authorization', ACME), 404, '404002001');
  await api().get(`/contacts/my/${b.body.id}`).set('Authorization', ACME).expect(200);
});

test('blacklist per service, with ids as strings or as {id} objects', async () => {
  const c = await post('/contacts/my', { mobile: '+33612345678' }).expect(200);
  expect((await post('/contacts/my/blacklist/Sms', [c.body.id]).expect(200)).body).toEqual({ updated: 1 });
  expect((await post('/contacts/my/blacklist/Sms', [{ id: c.body.id }]).expect(200)).body).toEqual({ updated: 0 });
  const listed = await api().get('/contacts/my/blacklist/Sms').set('Authorization', ACME).expect(200);
  expect(listed.body.map((x: { id: string }) => x.id)).toEqual([c.body.id]);
  expect((await api().get('/contacts/my/blacklist/Viber').set('Authorization', ACME).expect(200)).body).toEqual([]);
  expectRoutee(await post('/contacts/my/blacklist/Sms', ['ffffffffffffffffffffffff']), 404, '404002001');
  expectRoutee(await post('/contacts/my/blacklist/Fax', [c.body.id]), 400, '400002000');
  const cleared = await api().delete('/contacts/my/blacklist/Sms').set('Authorization', ACME).send([c.body.id]).expect(200);
  expect(cleared.body).toEqual({ updated: 1 });
  expect((await api().get(`/contacts/my/${c.body.id}`).set('Authorization', ACME)).body.blacklistedServices).toEqual([]);
});

test('an import stores the good rows and reports each refused one with its row and code', async () => {
  const rows = [
    { mobile: '+4915112345601', firstName: 'A' },
    { mobile: 'not a number' },
    { mobile: '+4915112345602', labels: [{ name: 'undefinedLabel', value: 'x' }] },
    { mobile: '+4915112345601' },
    { mobile: '+4915112345603' },
  ];
  const res = await post('/contacts/my/import', rows).expect(200);
  expect(res.body.created).toBe(2);
  expect(res.body.errors).toEqual([
    { row: 1, code: '400002000', developerMessage: expect.stringContaining('mobile') },
    { row: 2, code: '404002012', developerMessage: expect.stringContaining('undefinedLabel') },
    { row: 3, code: '409002005', developerMessage: expect.any(String) },
  ]);
  await api().head('/contacts/my/mobile?value=%2B4915112345603').set('Authorization', ACME).expect(200);
  expectRoutee(await post('/contacts/my/import', { mobile: '+4915112345604' }), 400, '400012000');
});

test('a CSV import: a header row, labels as extra columns, per-row errors', async () => {
  await post('/contacts/labels/my', [{ name: 'tier', type: 'Text' }]).expect(200);
  const csv = ['\ufeffmobile,firstName,vip,tier', '+4915112345611,"Müller, Jo",true,gold', '+4915112345612,,no,', 'garbage,x,,', '+4915112345611,dup,,'].join('\r\n');
  const res = await api().post('/contacts/my/import').set('Authorization', ACME).set('Content-Type', 'text/csv').send(csv).expect(200);
  expect(res.body).toMatchObject({ created: 2, failed: 2 });
  expect(res.body.errors.map((e: { row: number; code: string }) => [e.row, e.code])).toEqual([
    [2, '400002000'],
    [3, '409002005'],
  ]);
  const page = await api().get('/contacts/my?size=1000').set('Authorization', ACME).expect(200);
  const jo = page.body.content.find((c: { mobile: string }) => c.mobile === '+4915112345611');
  expect(jo).toMatchObject({ firstName: 'Müller, Jo', vip: true, labels: [{ name: 'tier', type: 'Text', value: 'gold' }] });
  const bad = await api().post('/contacts/my/import').set('Authorization', ACME).set('Content-Type', 'text/csv').send('name\nx');
  expectRoutee(bad, 400, '400012000');
});

test("another account sees none of acme's contacts or groups, and needs a key", async () => {
  const c = await post('/contacts/my', { mobile: '+34612345678' }).expect(200);
  await post('/groups/my', { name: 'vips' }).expect(200);
  expectRoutee(await api().get(`/contacts/my/${c.body.id}`).set('Authorization', GLOBEX), 404, '404002001');
  expectRoutee(await api().delete(`/contacts/my/${c.body.id}`).set('Authorization', GLOBEX), 404, '404002001');
  expectRoutee(await api().put(`/contacts/my/${c.body.id}`).set('Authorization', GLOBEX).send({ mobile: '+34612345679' }), 404, '404002001');
  expectRoutee(await api().get('/groups/my/vips').set('Authorization', GLOBEX), 404, '404002002');
  expectRoutee(await post('/groups/my/vips/contacts', [c.body.id], GLOBEX), 404, '404002002');
  // globex's own group cannot take acme's contact either.
  await post('/groups/my', { name: 'vips' }, GLOBEX).expect(200);
  expectRoutee(await post('/groups/my/vips/contacts', [c.body.id], GLOBEX), 404, '404002001');
  expect((await api().get('/contacts/my').set('Authorization', GLOBEX).expect(200)).body.totalElements).toBe(0);
  // The same number may be a contact of both accounts.
  await post('/contacts/my', { mobile: '+34612345678' }, GLOBEX).expect(200);

  expectRoutee(await api().get('/contacts/my'), 401, '401000000');
  expectRoutee(await api().get('/contacts/my').set('Authorization', 'Bearer wrong'), 401, '401000000');
});

test("Routee's token exchange: Basic account:key and client_credentials give an hour's bearer token for that account only", async () => {
  const basic = (account: string, key: string) => `Basic ${Buffer.from(`${account}:${key}`).toString('base64')}`;
  const token = await api()
    .post('/oauth/token')
    .set('Authorization', basic('acme', 'acme-secret-key-1'))
    .type('form')
    .send({ grant_type: 'client_credentials' })
    .expect(200);
  expect(token.body).toMatchObject({ access_token: expect.stringMatching(/^at1\./), token_type: 'bearer', expires_in: 3600 });
  expect(token.headers['cache-control']).toBe('no-store');
  const bearer = `Bearer ${token.body.access_token as string}`;

  // The token acts for acme: what it creates acme sees, globex does not.
  const group = await post('/groups/my', { name: 'token-made' }, bearer).expect(200);
  expect(group.body).toMatchObject({ name: 'token-made' });
  await api().get('/groups/my/token-made').set('Authorization', ACME).expect(200);
  expectRoutee(await api().get('/groups/my/token-made').set('Authorization', GLOBEX), 404, '404002002');

  // A tampered token, the wrong secret, the wrong account for a key, and another grant type are all refused.
  const [payload, signature] = (token.body.access_token as string).slice(4).split('.');
  const forged = Buffer.from(JSON.stringify(['globex', 9_999_999_999])).toString('base64url');
  expectRoutee(await api().get('/groups/my').set('Authorization', `Bearer at1.${forged}.${signature}`), 401, '401000000');
  expectRoutee(await api().get('/groups/my').set('Authorization', `Bearer at1.${payload}.${signature!.slice(1)}x`), 401, '401000000');
  expectRoutee(await api().post('/oauth/token').set('Authorization', basic('acme', 'wrong')).type('form').send({ grant_type: 'client_credentials' }), 401, '401000000');
  expectRoutee(await api().post('/oauth/token').set('Authorization', basic('globex', 'acme-secret-key-1')).type('form').send({ grant_type: 'client_credentials' }), 401, '401000000');
  const refused = await api().post('/oauth/token').set('Authorization', basic('acme', 'acme-secret-key-1')).type('form').send({ grant_type: 'password' }).expect(400);
  expect(refused.body).toMatchObject({ error: 'unsupported_grant_type' });
});
