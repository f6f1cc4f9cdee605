import { readFileSync } from 'node:fs';
import { drive as makeDrive } from '@googleapis/drive';
import { GoogleAuth, type JWT } from 'google-auth-library';
import { afterAll, describe, expect, it } from 'vitest';
import { startDrive, startOrSkip } from '@shylock/test-servers';
import { DRIVE_SCOPE } from '../src/index.js';

// The tests of this package are only as good as the stand-in they run against: it must refuse
// what Drive would, as the Drive v3 discovery document describes it.
const { server: srv, skip } = await startOrSkip(startDrive);
afterAll(() => srv?.stop());

describe.skipIf(!srv)(`the Drive stand-in${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const client = () => {
    const auth = new GoogleAuth({ scopes: [DRIVE_SCOPE] }).fromJSON(JSON.parse(readFileSync(srv!.keyFile, 'utf8'))) as JWT;
    auth.scopes = [DRIVE_SCOPE];
    auth.useJWTAccessWithScope = true;
    return makeDrive({ version: 'v3', auth, rootUrl: `${srv!.endpoint}/` });
  };

  it('refuses what the discovery document does not describe: parameters, fields, body fields, values', async () => {
    const api = client();
    await expect(api.files.list({ q: 'trashed = false', fields: 'files(id,colour)' })).rejects.toThrow(
      'Invalid field selection colour: not a field of FileList.files',
    );
    await expect(api.files.list({ q: 'trashed = false', orderByColour: 'red' } as never)).rejects.toThrow(
      'Unknown parameter "orderByColour"',
    );
    await expect(api.files.list({ pageSize: 'many' } as never)).rejects.toThrow('Invalid integer "many" for pageSize');
    await expect(api.files.list({ corpus: 'everything' } as never)).rejects.toThrow(
      /Invalid value "everything" for corpus: one of domain, user/,
    );
    await expect(api.files.create({ requestBody: { name: 'x', size: '3' } })).rejects.toThrow('not directly writable: size');
    await expect(api.files.create({ requestBody: { name: 'x', colour: 'red' } as never })).rejects.toThrow('Unknown field "colour"');
    await expect(api.files.list({ q: "name contains 'x' or trashed = true" })).rejects.toThrow(/does not know the query clause/);
    await expect(api.about.get({})).rejects.toThrow("The 'fields' parameter is required");
  });

  it('takes only tokens signed with the service account key, with the Drive scope', async () => {
    const res = await fetch(`${srv!.endpoint}/drive/v3/files`, { headers: { Authorization: 'Bearer not-a-token' } });
    expect(res.status).toBe(401);
    expect((await fetch(`${srv!.endpoint}/drive/v3/files`)).status).toBe(401);
    expect((await client().files.list({ fields: 'files(id)' })).status).toBe(200);
  });
});
