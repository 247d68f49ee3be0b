export { bulkWorkflow } from './bulk-workflow';
