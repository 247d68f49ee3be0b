import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/env';
import type { Logger } from '../config/logger';
import { type Db, migrateToLatest, openDatabase, pingDatabase } from '../db/database';
import { Repository } from '../db/repository';
import { ContactStore } from '../db/contacts';
import { OptOutStore } from '../db/opt-outs';
import { inboundHandler, type ReplySender } from './inbound';
import { isFinalStatus, STATUSES } from '../domain/status';
import { HttpSmsProvider } from '../providers/http-provider';
import { InfobipUpstreamProvider } from '../providers/infobip-upstream';
import { SmsSimulator } from '../providers/simulator';
import { SmppProvider } from '../providers/smpp/provider';
import { parseReference, type ProviderDeliveryReport, type SmsProvider } from '../providers/types';

export interface Services {
  db: Db;
  repo: Repository;
  /** Absent in a process that does not send (the API role). */
  provider?: SmsProvider;
  pingDatabase(): Promise<void>;
  close(): Promise<void>;
}

export type ProviderConfig = Pick<
  Config,
  | 'SMS_PROVIDER'
  | 'SIMULATOR_URL'
  | 'SIMULATOR_TOKEN'
  | 'SIMULATOR_DELIVERY_DELAY_MS'
  | 'SIMULATOR_SUBMIT_DELAY_MS'
  | 'SIMULATOR_FAILURE_RATE'
  | 'SIMULATOR_REJECT_RATE'
  | 'INFOBIP_BASE_URL'
  | 'INFOBIP_API_KEY'
  | 'INFOBIP_NOTIFY_URL'
  | 'INFOBIP_NOTIFY_TOKEN'
  | 'SMPP_HOST'
  | 'SMPP_PORT'
  | 'SMPP_SYSTEM_ID'
  | 'SMPP_PASSWORD'
  | 'SMPP_SYSTEM_TYPE'
  | 'SMPP_BIND'
  | 'SMPP_WINDOW'
  | 'SMPP_TLS'
  | 'SMPP_TLS_CA_FILE'
  | 'SMPP_TPS'
  | 'SMPP_LONG_MESSAGES'
  | 'SMPP_IN_DOUBT'
  | 'SMPP_IN_DOUBT_WAIT_S'
  | 'dataDir'
>;

export function createProvider(config: ProviderConfig, logger?: Logger, db?: Db): SmsProvider {
  switch (config.SMS_PROVIDER) {
    case 'simulator':
      if (config.SIMULATOR_URL) {
        return new HttpSmsProvider(config.SIMULATOR_URL, {
          token: config.SIMULATOR_TOKEN,
          onPullError: (err) => logger?.warn({ err: err.message }, 'pulling delivery reports from the simulator failed; retrying'),
        });
      }
      // In-process, with its memory in DATA_DIR: a crash of this process loses neither what it accepted nor
      // the reports it owes.
      return new SmsSimulator({
        file: path.join(config.dataDir, 'simulator.sqlite'),
        deliveryDelayMs: config.SIMULATOR_DELIVERY_DELAY_MS,
        submitDelayMs: config.SIMULATOR_SUBMIT_DELAY_MS,
        failureRate: config.SIMULATOR_FAILURE_RATE,
        rejectRate: config.SIMULATOR_REJECT_RATE,
      });
    case 'infobip':
      return new InfobipUpstreamProvider(config.INFOBIP_BASE_URL!, config.INFOBIP_API_KEY!, {
        ...(config.INFOBIP_NOTIFY_URL
          ? { notifyUrl: `${config.INFOBIP_NOTIFY_URL.replace(/\/$/, '')}/provider/infobip/reports?token=${encodeURIComponent(config.INFOBIP_NOTIFY_TOKEN!)}` }
          : {}),
        onPullError: (err) => logger?.warn({ err: err.message }, 'pulling delivery reports from the Infobip upstream failed; retrying'),
      });
    case 'smpp':
      if (!db) throw new Error('the SMPP provider keeps its journal in the database: pass it');
      return new SmppProvider({
        db,
        host: config.SMPP_HOST!,
        port: config.SMPP_PORT,
        systemId: config.SMPP_SYSTEM_ID!,
        password: config.SMPP_PASSWORD!,
        systemType: config.SMPP_SYSTEM_TYPE,
        bind: config.SMPP_BIND,
        window: config.SMPP_WINDOW,
        tls: config.SMPP_TLS === 'true',
        ...(config.SMPP_TLS_CA_FILE ? { tlsCa: fs.readFileSync(config.SMPP_TLS_CA_FILE, 'utf8') } : {}),
        tps: config.SMPP_TPS,
        longMessages: config.SMPP_LONG_MESSAGES,
        inDoubt: config.SMPP_IN_DOUBT,
        inDoubtWaitMs: config.SMPP_IN_DOUBT_WAIT_S * 1000,
        logger,
      });
    default:
      throw new Error(`SMS_PROVIDER=${String(config.SMS_PROVIDER)} is not available in this version`);
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
        ...(report.error ? { errorName: report.error } : {}),
      };
    });
    try {
      applied((await repo.applyDeliveryReports(updates)).bulks);
    } catch (err) {
      // Rethrown: the provider keeps the reports and hands them out again (applying them twice is harmless).
      logger.error({ err, reports: updates.length }, 'could not apply delivery reports; the provider will redeliver them');
      throw err;
    }
  };
}

export async function createServices(
  config: Config,
  logger: Logger,
  /**
   * Present in processes that send (the worker role): the provider is created and its delivery reports are
   * applied here; `reportsApplied` is told which bulks received some (see deliveryReportHandler).
   */
  sending?: { reportsApplied?: (bulks: Array<{ accountId: string; bulkId: string }>) => void; reply?: ReplySender },
): Promise<Services> {
  const db = openDatabase({
    url: config.DATABASE_URL,
    sqliteFile: path.join(config.dataDir, 'orchestrator.sqlite'),
    sqliteSynchronous: config.SQLITE_SYNCHRONOUS,
    onIdleError: (err) => logger.warn({ err: err.message }, 'an idle database connection failed; it will be replaced'),
  });
  await migrateToLatest(db);
  const repo = new Repository(db);
  let provider: SmsProvider | undefined;
  if (sending) {
    provider = createProvider(config, logger, db);
    provider.onDeliveryReports(deliveryReportHandler(repo, logger, sending.reportsApplied));
    provider.onInbound?.(inboundHandler({ optOuts: new OptOutStore(db), contacts: new ContactStore(db), owners: config.INBOUND_NUMBERS ?? new Map(), logger, reply: sending.reply }));
  }
  // A bind refused for bad credentials stops the start here, with the SMSC's reason.
  if (provider instanceof SmppProvider) {
    try {
      await provider.start();
    } catch (err) {
      await provider.close();
      await db.destroy();
      throw new Error(`SMPP: ${(err as Error).message}`, { cause: err });
    }
  }
  return {
    db,
    repo,
    provider,
    pingDatabase: () => pingDatabase(db),
    async close() {
      await provider?.close();
      await db.destroy();
    },
  };
}
