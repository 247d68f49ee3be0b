import fs from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal';

/**
 * Histories recorded from real runs (binary protobuf, written by `RECORD_HISTORIES=1 npm test -- test/workflow/bulk-control`) must replay with the current
 * workflow code. A change that fails here alters history: guard it with patched() (see STYLE.md), then record
 * new histories beside the old ones (`RECORD_HISTORIES=<tag> npm test -- test/workflow/bulk-control` writes
 * `<bulkId>-<tag>.pb`). The `-staggered` ones carry the 'staggered-first-batches' patch marker; the `-time-limits` ones also
 * 'dispatch-batch-10000' and 'batch-time-limits'; the `-report-nudges` ones also 'report-nudges' (and some
 * carry reportsArrived signals).
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
