import path from 'node:path';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import { type Db, migrateToLatest, openDatabase, pingDatabase } from '../db/database';
import { Repository } from '../db/repository';
import { isFinalStatus, STATUSES } from '../domain/status';
import { HttpSmsProvider } from '../providers/http-provider';
import { SmsSimulator } from '../providers/simulator';
import { parseReference, type ProviderDeliveryReport, type SmsProvider } from '../providers/types';

export interface Services {
  db: Db;
  repo: Repository;
  provider: SmsProvider;
  pingDatabase(): Promise<void>;
  close(): Promise<void>;
}

export function createProvider(config: Pick<Config, 'SMS_PROVIDER' | 'SMS_HTTP_URL' | 'SIMULATOR_DELIVERY_DELAY_MS' | 'SIMULATOR_SUBMIT_DELAY_MS' | 'SIMULATOR_FAILURE_RATE' | 'SIMULATOR_REJECT_RATE'>): SmsProvider {
  switch (config.SMS_PROVIDER) {
    case 'simulator':
      return new SmsSimulator({
        deliveryDelayMs: config.SIMULATOR_DELIVERY_DELAY_MS,
        submitDelayMs: config.SIMULATOR_SUBMIT_DELAY_MS,
        failureRate: config.SIMULATOR_FAILURE_RATE,
        rejectRate: config.SIMULATOR_REJECT_RATE,
      });
    case 'http':
      if (!config.SMS_HTTP_URL) throw new Error('SMS_PROVIDER=http needs SMS_HTTP_URL');
      return new HttpSmsProvider(config.SMS_HTTP_URL);
    default:
      throw new Error(`SMS_PROVIDER=${config.SMS_PROVIDER} is not available in this version; use simulator`);
  }
}

/**
 * Applies provider delivery reports to the stored messages, in batches (see Repository.applyDeliveryReports),
 * then tells `applied` which bulks they belong to (the worker nudges their workflows to push the reports).
 */
export function deliveryReportHandler(
  repo: Repository,
  logger: Logger,
  applied: (bulks: Array<{ accountId: string; bulkId: string }>) => void = () => {},
) {
  return async (reports: ProviderDeliveryReport[]): Promise<void> => {
    const updates = reports.map((report) => {
      const { accountId, messageId } = parseReference(report.reference);
      return {
        accountId,
        messageId,
        statusName: report.status,
        final: isFinalStatus(STATUSES[report.status]),
        doneAt: report.doneAt,
        providerMessageId: report.providerMessageId,
      };
    });
    try {
      applied((await repo.applyDeliveryReports(updates)).bulks);
    } catch (err) {
      // Messages left without their report end EXPIRED_DLR_UNKNOWN after the wait that follows validity.
      logger.error({ err, reports: updates.length }, 'could not apply delivery reports');
    }
  };
}

export async function createServices(
  config: Config,
  logger: Logger,
  /** Told which bulks received delivery reports (see deliveryReportHandler). */
  reportsApplied?: (bulks: Array<{ accountId: string; bulkId: string }>) => void,
): Promise<Services> {
  const db = openDatabase({ url: config.DATABASE_URL, sqliteFile: path.join(config.dataDir, 'orchestrator.sqlite') });
  await migrateToLatest(db);
  const repo = new Repository(db);
  const provider = createProvider(config);
  provider.onDeliveryReports(deliveryReportHandler(repo, logger, reportsApplied));
  return {
    db,
    repo,
    provider,
    pingDatabase: () => pingDatabase(db),
    async close() {
      await provider.close();
      await db.destroy();
    },
  };
}
