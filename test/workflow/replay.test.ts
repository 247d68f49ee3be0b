import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal';

/**
 * Histories recorded from real runs (binary protobuf) must replay with the current workflow code: a change that
 * fails here alters history. Before the first release the histories are simply re-recorded
 * (`RECORD_HISTORIES=1 npm test -- test/workflow/bulk-control test/workflow/operator-safety`); once there are
 * users, such a change is guarded with patched() and new histories are recorded beside the old ones
 * (`RECORD_HISTORIES=<tag>` writes `<bulkId>-<tag>.pb`). The set covers pause/resume, signals, cancel,
 * reschedule, refused garbage input and a Temporal cancellation request.
 */
const dir = path.join(__dirname, '../histories');
const files = fs.readdirSync(dir).filter((f) => f.endsWith('.pb'));

test('recorded histories exist', () => {
  expect(files.length).toBeGreaterThan(0);
});

test.each(files)('%s replays without non-determinism', async (file) => {
  const history = temporal.api.history.v1.History.decode(fs.readFileSync(path.join(dir, file)));
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, file.replace(/\.pb$/, '')),
  ).resolves.toBeUndefined();
});
