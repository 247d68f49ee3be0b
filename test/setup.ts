import { DefaultLogger, Runtime } from '@temporalio/worker';

// Keep the SDK's own logs (worker state changes, bundler output) out of test output unless asked for.
Runtime.install({ logger: new DefaultLogger((process.env.TEST_TEMPORAL_LOG_LEVEL as 'WARN' | undefined) ?? 'WARN') });
